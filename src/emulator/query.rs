//! Query strings as the SDK sends them: repeated keys for lists (`id=a&id=b`), comma-separated
//! lists accepted too, and `limit`/`offset` paging.

use super::api_error::ApiError;

/// Parsed query parameters, in order.
#[derive(Debug, Clone, Default)]
pub(crate) struct QueryParams {
    pairs: Vec<(String, String)>,
}

/// A page of a list: `offset` items skipped, at most `limit` returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Page {
    pub(crate) limit: usize,
    pub(crate) offset: usize,
}

impl Page {
    /// The items of `items` on this page.
    pub(crate) fn apply<T>(self, items: Vec<T>) -> Vec<T> {
        items
            .into_iter()
            .skip(self.offset)
            .take(self.limit)
            .collect()
    }
}

/// Largest `limit` the list operations accept, and the default.
pub(crate) const MAX_LIMIT: usize = 1000;

impl QueryParams {
    /// Parses a raw (percent-encoded) query string.
    pub(crate) fn parse(raw: Option<&str>) -> Self {
        let pairs = raw
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default();
        Self { pairs }
    }

    /// The first non-empty value of `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// All values of `key`: repeated keys, each also split on commas.
    pub(crate) fn all(&self, key: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// An optional non-negative integer parameter.
    pub(crate) fn number(&self, key: &str) -> Result<Option<usize>, ApiError> {
        self.get(key)
            .map(|v| {
                v.parse::<usize>().map_err(|_| {
                    ApiError::param(format!(
                        "query parameter {key} must be a non-negative integer, got `{v}`"
                    ))
                })
            })
            .transpose()
    }

    /// `limit` (1 to 1000, default 1000) and `offset` (default 0).
    pub(crate) fn page(&self) -> Result<Page, ApiError> {
        let limit = self.number("limit")?.unwrap_or(MAX_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::param(format!(
                "query parameter limit must be between 1 and {MAX_LIMIT}, got {limit}"
            )));
        }
        let offset = self.number("offset")?.unwrap_or(0);
        Ok(Page { limit, offset })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_and_comma_separated_values() {
        let q = QueryParams::parse(Some("id=a&id=b,c&name=my%20vault&status="));
        assert_eq!(q.all("id"), ["a", "b", "c"]);
        assert_eq!(q.get("name"), Some("my vault"));
        assert_eq!(q.get("status"), None);
        assert!(q.all("status").is_empty());
    }

    #[test]
    fn paging_is_validated() {
        assert_eq!(
            QueryParams::parse(None).page().unwrap(),
            Page {
                limit: 1000,
                offset: 0
            }
        );
        let page = QueryParams::parse(Some("limit=2&offset=1")).page().unwrap();
        assert_eq!(page.apply(vec![1, 2, 3, 4]), [2, 3]);
        assert!(QueryParams::parse(Some("limit=0")).page().is_err());
        assert!(QueryParams::parse(Some("limit=abc")).page().is_err());
        assert!(QueryParams::parse(Some("offset=-1")).page().is_err());
    }
}
