//! Pagination of the list operations, in AWS's two styles: `maxResults`/`nextToken` ([`page`],
//! answered with [`with_next_token`]) and `pageSize`/`marker` ([`marker_page`]). Either token is the key of the last item of the
//! previous page, so a page stays valid while items are added or removed. The bounds of the page
//! size and their error messages differ by operation and stay with each operation.

/// One page of `items`, sorted by `key`: those whose key comes after `after` (the previous
/// page's token), at most `max`, and the token of the next page when more follow.
pub fn page<T>(
    items: impl IntoIterator<Item = T>,
    key: impl Fn(&T) -> &str,
    after: Option<&str>,
    max: usize,
) -> (Vec<T>, Option<String>) {
    let mut rest = items.into_iter().filter(|item| after.is_none_or(|token| key(item) > token));
    let out: Vec<T> = rest.by_ref().take(max).collect();
    let next = rest.next().and(out.last().map(|item| key(item).to_string()));
    (out, next)
}

/// [`page`] for keys that are not text (numbers, say): those after `after` by the keys' order.
pub fn page_by<T, K: Ord>(
    items: impl IntoIterator<Item = T>,
    key: impl Fn(&T) -> K,
    after: Option<&K>,
    max: usize,
) -> (Vec<T>, Option<K>) {
    let mut rest = items.into_iter().filter(|item| after.is_none_or(|token| key(item) > *token));
    let out: Vec<T> = rest.by_ref().take(max).collect();
    let next = rest.next().and(out.last().map(&key));
    (out, next)
}

/// One page of `items` in their order: those after the item whose key is `marker`, at most
/// `size`, and the token of the next page when more follow; `None` when no item has the key
/// `marker` (the caller's InvalidRequest or InvalidParameter).
pub fn marker_page<T: Clone>(
    items: &[T],
    key: impl Fn(&T) -> &str,
    marker: Option<&str>,
    size: usize,
) -> Option<(Vec<T>, Option<String>)> {
    let start = match marker {
        Some(m) => items.iter().position(|item| key(item) == m)? + 1,
        None => 0,
    };
    let page: Vec<T> = items.iter().skip(start).take(size).cloned().collect();
    let next = (start + page.len() < items.len()).then(|| page.last().map(|item| key(item).to_string()));
    Some((page, next.flatten()))
}

/// A list operation's answer: `body` with, when more follow, the `nextToken` of the next page.
pub fn with_next_token(mut body: serde_json::Value, next: Option<String>) -> serde_json::Value {
    if let Some(next) = next {
        body["nextToken"] = serde_json::Value::String(next);
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_the_last_key() {
        let items: Vec<String> = ["a", "b", "c"].map(String::from).into();
        let (first, next) = page(items.clone(), |s| s.as_str(), None, 2);
        assert_eq!((first, next.clone()), (vec!["a".to_string(), "b".to_string()], Some("b".to_string())));
        assert_eq!(page(items.clone(), |s| s.as_str(), next.as_deref(), 2), (vec!["c".to_string()], None));
        // A token that is no longer an item still continues after it.
        assert_eq!(page(items, |s| s.as_str(), Some("aa"), 5).0, ["b", "c"]);
        // Numbers by their order, not their text's.
        assert_eq!(page_by([2u32, 9, 10], |n| *n, Some(&9), 1), (vec![10], None));
        assert_eq!(page_by([2u32, 9, 10], |n| *n, None, 2), (vec![2, 9], Some(9)));
    }

    #[test]
    fn marker_pages_follow_the_last_key() {
        let items: Vec<String> = ["a", "b", "c"].map(String::from).into();
        let (first, next) = marker_page(&items, |s| s.as_str(), None, 2).unwrap();
        assert_eq!((first.len(), next.as_deref()), (2, Some("b")));
        let (rest, next) = marker_page(&items, |s| s.as_str(), Some("b"), 2).unwrap();
        assert_eq!((rest, next), (vec!["c".to_string()], None));
        assert!(marker_page(&items, |s| s.as_str(), Some("zz"), 2).is_none());
    }

    #[test]
    fn answers_carry_the_next_token_only_when_there_is_one() {
        let body = serde_json::json!({ "things": [] });
        assert_eq!(with_next_token(body.clone(), None), body);
        assert_eq!(with_next_token(body, Some("b".into()))["nextToken"], "b");
    }
}
