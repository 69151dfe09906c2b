//! Pagination of the `iot` list operations, in AWS's two styles: `maxResults`/`nextToken`
//! ([`paginate`]) and `pageSize`/`marker` ([`marker_page`]). Both tokens are the key of the last
//! item of the previous page, so a page stays valid while items are added or removed.

use crate::RegistryError;

/// One page of a listing: `next_token` is the last name of the previous page.
#[derive(Debug, Default, Clone)]
pub struct Page {
    pub max_results: Option<usize>,
    pub next_token: Option<String>,
}

/// One page of `items` (sorted by `key`): the items after the token, at most `max_results`
/// (1-250, default 50), and the token of the next page if there is one.
pub(crate) fn paginate<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> &str,
    page: &Page,
) -> Result<(Vec<T>, Option<String>), RegistryError> {
    let max = page.max_results.unwrap_or(50);
    if !(1..=250).contains(&max) {
        return Err(RegistryError::InvalidRequest("maxResults must be between 1 and 250".into()));
    }
    let mut rest =
        items.into_iter().filter(|item| page.next_token.as_deref().is_none_or(|token| key(item) > token));
    let out: Vec<T> = rest.by_ref().take(max).collect();
    let next = rest.next().and(out.last().map(|item| key(item).to_string()));
    Ok((out, next))
}

/// One page of `items` in the `pageSize`/`marker` style (ListCertificates, ListPolicies, ...):
/// the items after the one whose key is `marker`, at most `size` (1-250, default 250).
pub(crate) fn marker_page<T: Clone>(
    items: Vec<T>,
    key: impl Fn(&T) -> &str,
    marker: Option<&str>,
    size: Option<usize>,
) -> Result<(Vec<T>, Option<String>), RegistryError> {
    let size = size.unwrap_or(250);
    if !(1..=250).contains(&size) {
        return Err(RegistryError::InvalidRequest("pageSize must be between 1 and 250".into()));
    }
    let start = match marker {
        Some(m) => items
            .iter()
            .position(|i| key(i) == m)
            .map(|i| i + 1)
            .ok_or_else(|| RegistryError::InvalidRequest(format!("invalid marker {m:?}")))?,
        None => 0,
    };
    let page: Vec<T> = items.iter().skip(start).take(size).cloned().collect();
    let next = (start + page.len() < items.len()).then(|| page.last().map(|i| key(i).to_string())).flatten();
    Ok((page, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_the_last_name() {
        let items: Vec<String> = ["a", "b", "c"].map(String::from).into();
        let mut page = Page { max_results: Some(2), next_token: None };
        let (first, next) = paginate(items.clone(), |s| s.as_str(), &page).unwrap();
        assert_eq!((first, next.clone()), (vec!["a".to_string(), "b".to_string()], Some("b".to_string())));
        page.next_token = next;
        assert_eq!(paginate(items.clone(), |s| s.as_str(), &page).unwrap(), (vec!["c".to_string()], None));
        page.max_results = Some(0);
        assert!(paginate(items, |s| s.as_str(), &page).is_err());
    }

    #[test]
    fn marker_pages_follow_the_last_key() {
        let items: Vec<String> = ["a", "b", "c"].map(String::from).into();
        let (first, next) = marker_page(items.clone(), |s| s.as_str(), None, Some(2)).unwrap();
        assert_eq!((first.len(), next.as_deref()), (2, Some("b")));
        let (rest, next) = marker_page(items.clone(), |s| s.as_str(), Some("b"), Some(2)).unwrap();
        assert_eq!((rest, next), (vec!["c".to_string()], None));
        assert!(marker_page(items, |s| s.as_str(), Some("zz"), None).is_err());
    }
}
