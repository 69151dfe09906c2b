//! The comparison table: medians per (scenario, metric, broker) and ratios to the baseline.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::{Context, Result};
use serde_json::Value;

/// Rows in display order: (scenario, metric, description, unit, higher is better).
const ROWS: &[(&str, &str, &str, &str, bool)] = &[
    ("tput_fanin_q0", "deliveries_per_s", "fan-in 10->1, QoS0", "deliv/s", true),
    ("tput_fanin_q1", "deliveries_per_s", "fan-in 10->1, QoS1", "deliv/s", true),
    ("tput_pairs_q0", "deliveries_per_s", "50 pairs, QoS0", "deliv/s", true),
    ("tput_pairs_q1", "deliveries_per_s", "50 pairs, QoS1", "deliv/s", true),
    ("tput_fanout_q0", "deliveries_per_s", "fan-out 1->50, QoS0", "deliv/s", true),
    ("tput_fanout_q1", "deliveries_per_s", "fan-out 1->50, QoS1", "deliv/s", true),
    ("latency_q0_20k", "p50_us", "latency p50 @20k/s QoS0", "us", false),
    ("latency_q0_20k", "p99_us", "latency p99 @20k/s QoS0", "us", false),
    ("connects", "connects_per_s", "connects (1000 clients)", "conn/s", true),
    ("idle_rss", "bytes_per_conn", "RSS per idle connection", "bytes", false),
];

#[derive(Clone, Copy)]
enum Target {
    RatioAtLeast(f64),
    RatioAtMost(f64),
    ValueAtMost(f64),
}

fn target(label: &str, scenario: &str, metric: &str) -> Option<Target> {
    let iotemu = label.starts_with("iotemu");
    if !iotemu {
        return None;
    }
    match (scenario, metric) {
        (s, _) if s.starts_with("tput_") => match label {
            "iotemu-disabled" => Some(Target::RatioAtLeast(1.5)),
            _ => Some(Target::RatioAtLeast(1.0)),
        },
        ("latency_q0_20k", "p99_us") => Some(Target::RatioAtMost(1.2)),
        ("connects", _) => Some(Target::RatioAtLeast(1.0)),
        ("idle_rss", _) => Some(Target::ValueAtMost(4096.0)),
        _ => None,
    }
}

#[derive(Default)]
struct Cell {
    values: Vec<f64>,
    /// Per value: it came from a rate search (not the closed-loop peak).
    searched: Vec<bool>,
    failed: usize,
    lossy: usize,
    /// Per run read with iotemu's API port: (run, log entries dropped at the closed-loop peak,
    /// about how many entries that run produced).
    peak_dropped: Vec<(u64, u64, Option<u64>, Option<f64>)>,
}

fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    Some(if !n.is_multiple_of(2) { s[n / 2] } else { (s[n / 2 - 1] + s[n / 2]) / 2.0 })
}

fn fmt_num(v: f64) -> String {
    if v.abs() >= 100.0 {
        let i = v.round() as i64;
        let s = i.abs().to_string();
        let mut out = String::new();
        for (k, ch) in s.chars().enumerate() {
            if k > 0 && (s.len() - k).is_multiple_of(3) {
                out.push(',');
            }
            out.push(ch);
        }
        if i < 0 {
            format!("-{out}")
        } else {
            out
        }
    } else {
        format!("{v:.1}")
    }
}

/// 950, 16.4k, 6.64M: for counts and rates in the dropped-entries lines.
fn fmt_short(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

pub fn print(files: &[String], baseline: &str) -> Result<()> {
    let mut cells: BTreeMap<(String, String, String), Cell> = BTreeMap::new();
    let mut labels: Vec<String> = Vec::new();
    let mut runs: Vec<u64> = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f).with_context(|| format!("reading {f}"))?;
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<Value>(line) else { continue };
            let (Some(label), Some(scenario), Some(metric)) =
                (v["label"].as_str(), v["scenario"].as_str(), v["metric"].as_str())
            else {
                continue;
            };
            if !labels.iter().any(|l| l == label) {
                labels.push(label.to_string());
            }
            if let Some(r) = v["run"].as_u64() {
                if !runs.contains(&r) {
                    runs.push(r);
                }
            }
            let cell = cells.entry((scenario.into(), metric.into(), label.into())).or_default();
            match v["value"].as_f64() {
                Some(x) => {
                    cell.values.push(x);
                    cell.searched.push(v["rate_searched"].as_bool().unwrap_or(false));
                }
                None => cell.failed += 1,
            }
            if v["lost"].as_u64().unwrap_or(0) > 0 || v["log_dropped"].as_u64().unwrap_or(0) > 0 {
                cell.lossy += 1;
            }
            if let Some(d) = v["peak_log_dropped"].as_u64() {
                cell.peak_dropped.push((
                    v["run"].as_u64().unwrap_or(0),
                    d,
                    v["peak_log_entries_est"].as_u64(),
                    v["peak_deliveries_per_s"].as_f64(),
                ));
            }
        }
    }
    // Baseline first, then iotemu-disabled, iotemu-debug, then anything else.
    let order = |l: &str| match l {
        x if x == baseline => 0,
        "iotemu-disabled" => 1,
        "iotemu-debug" => 2,
        _ => 3,
    };
    labels.sort_by_key(|l| order(l));
    let others: Vec<&String> = labels.iter().filter(|l| *l != baseline).collect();

    let mut out = String::new();
    let mut hdr = format!("{:<26} {:>8} {:>12}", "scenario", "unit", baseline);
    for l in &others {
        let _ = write!(hdr, " | {:>15} {:>6} {:>8} {:>4}", l, "ratio", "target", "ok");
    }
    let _ = writeln!(out, "{hdr}");
    let _ = writeln!(out, "{}", "-".repeat(hdr.len()));
    let mut misses = 0;
    let mut checked = 0;
    for &(scenario, metric, desc, unit, _higher) in ROWS {
        let key = |l: &str| (scenario.to_string(), metric.to_string(), l.to_string());
        if !labels.iter().any(|l| cells.contains_key(&key(l))) {
            continue;
        }
        let show = |c: Option<&Cell>| -> (String, Option<f64>) {
            let Some(c) = c else { return ("-".into(), None) };
            let m = median(&c.values);
            let mut s = m.map(fmt_num).unwrap_or_else(|| "ERR".into());
            if c.searched.iter().any(|&x| x) {
                s.push('~');
            }
            if c.lossy > 0 {
                s.push('*');
            }
            if c.failed > 0 && m.is_some() {
                s.push('!');
            }
            (s, m)
        };
        let (bs, bm) = show(cells.get(&key(baseline)));
        let mut line = format!("{desc:<26} {unit:>8} {bs:>12}");
        for l in &others {
            let (s, m) = show(cells.get(&key(l)));
            let ratio = match (m, bm) {
                (Some(a), Some(b)) if b > 0.0 => Some(a / b),
                _ => None,
            };
            let t = target(l, scenario, metric);
            let (tstr, ok) = match t {
                None => (String::new(), None),
                Some(Target::RatioAtLeast(x)) => (format!(">={x:.1}x"), ratio.map(|r| r >= x)),
                Some(Target::RatioAtMost(x)) => (format!("<={x:.1}x"), ratio.map(|r| r <= x)),
                Some(Target::ValueAtMost(x)) => (format!("<={}B", fmt_num(x)), m.map(|v| v <= x)),
            };
            let okstr = match ok {
                Some(true) => "yes",
                Some(false) => {
                    misses += 1;
                    "NO"
                }
                None if t.is_some() => {
                    misses += 1;
                    "?"
                }
                None => "",
            };
            if t.is_some() {
                checked += 1;
            }
            let rstr = ratio.map(|r| format!("{r:.2}")).unwrap_or_else(|| "-".into());
            let _ = write!(line, " | {s:>15} {rstr:>6} {tstr:>8} {okstr:>4}");
        }
        let _ = writeln!(out, "{line}");
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "medians over {} run(s); ratio = median(broker) / median({baseline}); targets met: {}/{}",
        runs.len(),
        checked - misses,
        checked
    );
    let _ = writeln!(
        out,
        "* some run lost messages or log entries (even at the smallest window / lowest rate tried)   \
         ! some run failed"
    );
    let any_searched = cells.values().any(|c| c.searched.iter().any(|&x| x));
    let peak_rows: Vec<(&str, &String, &Cell)> = ROWS
        .iter()
        .flat_map(|&(scenario, metric, desc, _, _)| {
            let cells = &cells;
            labels.iter().filter_map(move |l| {
                let c = cells.get(&(scenario.to_string(), metric.to_string(), l.clone()))?;
                (!c.peak_dropped.is_empty()).then_some((desc, l, c))
            })
        })
        .collect();
    if any_searched || !peak_rows.is_empty() {
        let _ = writeln!(
            out,
            "~ some run's closed-loop peak lost messages or log entries, so the value is the highest \
             offered rate found\n  at which every publish was delivered and every log entry written \
             (rate search; see benches/README.md)"
        );
    }
    if !peak_rows.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "log entries dropped at the closed-loop peak (why a ~ value is lower than the peak): per \
             run, dropped of ~entries (%) at the peak's deliveries/s"
        );
        for (desc, l, c) in peak_rows {
            let runs: Vec<String> = c
                .peak_dropped
                .iter()
                .map(|&(run, d, est, rate)| {
                    let mut t = format!("r{run} {}", fmt_short(d as f64));
                    if let Some(e) = est.filter(|&e| e > 0) {
                        let pct = 100.0 * d as f64 / e as f64;
                        let pct =
                            if d > 0 && pct < 1.0 { format!("{pct:.1}%") } else { format!("{pct:.0}%") };
                        let _ = write!(t, " of ~{} ({pct})", fmt_short(e as f64));
                    }
                    if let Some(r) = rate {
                        let _ = write!(t, " at {}/s", fmt_short(r));
                    }
                    t
                })
                .collect();
            let _ = writeln!(out, "  {desc:<26} {l:<16} {}", runs.join("  "));
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "per-run values:");
    for &(scenario, metric, desc, _, _) in ROWS {
        for l in &labels {
            if let Some(c) = cells.get(&(scenario.to_string(), metric.to_string(), l.clone())) {
                let vals: Vec<String> = c
                    .values
                    .iter()
                    .zip(&c.searched)
                    .map(|(v, &srch)| format!("{}{}", fmt_num(*v), if srch { "~" } else { "" }))
                    .collect();
                let fail = if c.failed > 0 { format!(" ({} failed)", c.failed) } else { String::new() };
                let _ = writeln!(out, "  {desc:<26} {l:<16} {}{fail}", vals.join("  "));
            }
        }
    }
    print!("{out}");
    Ok(())
}
