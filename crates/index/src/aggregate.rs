//! GetStatistics, GetCardinality, GetPercentiles and GetBucketsAggregation over the things a
//! query matches (managing-fleet-index.md "Querying for aggregate data"; botocore shapes).
//!
//! Choices where AWS is silent: percentiles are nearest-rank over the field's numeric values;
//! buckets are ordered by count (descending) then key; an array field counts each value.

use crate::error::IndexError;
use crate::service::Index;
use iotemu_core::Scope;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The percents GetPercentiles uses when none are given (botocore documentation).
pub const DEFAULT_PERCENTS: [f64; 7] = [1.0, 5.0, 25.0, 50.0, 75.0, 95.0, 99.0];

impl Index {
    fn numbers(
        &self,
        scope: &Scope,
        index: Option<&str>,
        query: &str,
        field: &str,
    ) -> Result<Vec<f64>, IndexError> {
        let per_doc = self.query(scope, index, query, |d| {
            Some(d.values(field).iter().filter_map(|v| v.num).collect::<Vec<_>>())
        })?;
        Ok(per_doc.into_iter().flatten().collect())
    }

    /// GetStatistics: without a field, `count` only (the matching things).
    pub fn get_statistics(
        &self,
        scope: &Scope,
        index: Option<&str>,
        query: &str,
        field: Option<&str>,
    ) -> Result<Value, IndexError> {
        let Some(field) = field else {
            let count = self.query(scope, index, query, |_| Some(()))?.len();
            return Ok(json!({ "count": count }));
        };
        let xs = self.numbers(scope, index, query, field)?;
        let n = xs.len() as f64;
        if xs.is_empty() {
            return Ok(json!({ "count": 0 }));
        }
        let sum: f64 = xs.iter().sum();
        let sum_sq: f64 = xs.iter().map(|x| x * x).sum();
        let mean = sum / n;
        let variance = sum_sq / n - mean * mean;
        Ok(json!({
            "count": xs.len(),
            "average": mean,
            "sum": sum,
            "minimum": xs.iter().cloned().fold(f64::INFINITY, f64::min),
            "maximum": xs.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
            "sumOfSquares": sum_sq,
            "variance": variance.max(0.0),
            "stdDeviation": variance.max(0.0).sqrt(),
        }))
    }

    /// GetCardinality: the number of distinct values of `field` among the matching things.
    pub fn get_cardinality(
        &self,
        scope: &Scope,
        index: Option<&str>,
        query: &str,
        field: &str,
    ) -> Result<usize, IndexError> {
        let values = self.query(scope, index, query, |d| {
            Some(d.values(field).iter().map(|v| v.text.clone()).collect::<Vec<_>>())
        })?;
        let distinct: std::collections::BTreeSet<String> = values.into_iter().flatten().collect();
        Ok(distinct.len())
    }

    /// GetPercentiles: nearest-rank percentiles of `field`.
    pub fn get_percentiles(
        &self,
        scope: &Scope,
        index: Option<&str>,
        query: &str,
        field: &str,
        percents: &[f64],
    ) -> Result<Vec<Value>, IndexError> {
        if percents.iter().any(|p| !(0.0..=100.0).contains(p)) {
            return Err(IndexError::InvalidAggregation("percents must be between 0 and 100".into()));
        }
        let mut xs = self.numbers(scope, index, query, field)?;
        if xs.is_empty() {
            return Ok(Vec::new());
        }
        xs.sort_by(|a, b| a.total_cmp(b));
        Ok(percents
            .iter()
            .map(|p| {
                let rank = ((p / 100.0) * xs.len() as f64).ceil().max(1.0) as usize;
                json!({ "percent": p, "value": xs[rank.min(xs.len()) - 1] })
            })
            .collect())
    }

    /// GetBucketsAggregation (terms aggregation): the `max_buckets` most frequent values.
    pub fn get_buckets_aggregation(
        &self,
        scope: &Scope,
        index: Option<&str>,
        query: &str,
        field: &str,
        max_buckets: usize,
    ) -> Result<(usize, Vec<Value>), IndexError> {
        if !(1..=10_000).contains(&max_buckets) {
            return Err(IndexError::InvalidAggregation("maxBuckets must be between 1 and 10000".into()));
        }
        let per_doc = self.query(scope, index, query, |d| {
            Some(d.values(field).iter().map(|v| v.text.clone()).collect::<Vec<_>>())
        })?;
        let total = per_doc.len();
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for value in per_doc.into_iter().flatten() {
            *counts.entry(value).or_default() += 1;
        }
        let mut buckets: Vec<(String, usize)> = counts.into_iter().collect();
        buckets.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        buckets.truncate(max_buckets);
        Ok((total, buckets.into_iter().map(|(k, c)| json!({ "keyValue": k, "count": c })).collect()))
    }
}
