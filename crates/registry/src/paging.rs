//! The page sizes of the `iot` list operations, in AWS's two styles: `maxResults`/`nextToken`
//! ([`paginate`], 1-250, 50 by default) and `pageSize`/`marker` ([`marker_page`], 1-250, 250 by
//! default). The pages themselves are cut by [`iotemu_api::paging`].

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
    Ok(iotemu_api::paging::page(items, key, page.next_token.as_deref(), max))
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
    iotemu_api::paging::marker_page(&items, key, marker, size).ok_or_else(|| {
        RegistryError::InvalidRequest(format!("invalid marker {:?}", marker.unwrap_or_default()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes_are_checked() {
        let items: Vec<String> = ["a", "b", "c"].map(String::from).into();
        let page = Page { max_results: Some(2), next_token: None };
        assert_eq!(paginate(items.clone(), |s| s.as_str(), &page).unwrap().1.as_deref(), Some("b"));
        assert!(paginate(items.clone(), |s| s.as_str(), &Page { max_results: Some(0), next_token: None })
            .is_err());
        assert!(marker_page(items.clone(), |s| s.as_str(), None, Some(251)).is_err());
        assert!(marker_page(items, |s| s.as_str(), Some("zz"), None).is_err());
    }
}
