//! Query-string parameters with the documented validation: every malformed value becomes a 400
//! whose message names the parameter.

use crate::dates::parse_date;
use crate::error::{ApiError, ApiResult};

/// Decoded `name=value` pairs of one request, in order.
#[derive(Debug, Default, Clone)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

const BOOL_HINT: &str = "expected one of 'true', 'false', 'yes', 'no', 'on', 'off', '1', '0'";

impl Query {
    pub fn parse(raw: Option<&str>) -> ApiResult<Query> {
        let raw = raw.unwrap_or("");
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw)
            .map_err(|e| ApiError::bad_request(format!("Malformed query string: {e}")))?;
        Ok(Query { pairs })
    }

    /// Drops every parameter named in `names`.
    pub fn without(mut self, names: &[String]) -> Query {
        self.pairs.retain(|(k, _)| !names.contains(k));
        self
    }

    /// The first value of `name`; an empty value counts as absent.
    pub fn str(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    pub fn int(&self, name: &str) -> ApiResult<Option<i64>> {
        self.str(name)
            .map(|v| {
                v.trim().parse::<i64>().map_err(|_| {
                    ApiError::bad_request(format!(
                        "Wrong parameter '{name}' value: expected an integer, got '{v}'"
                    ))
                })
            })
            .transpose()
    }

    pub fn num(&self, name: &str) -> ApiResult<Option<f64>> {
        self.str(name)
            .map(|v| {
                v.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "Wrong parameter '{name}' value: expected a number, got '{v}'"
                        ))
                    })
            })
            .transpose()
    }

    pub fn bool(&self, name: &str) -> ApiResult<Option<bool>> {
        self.str(name)
            .map(|v| match v.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" | "1" => Ok(true),
                "false" | "no" | "off" | "0" => Ok(false),
                _ => Err(ApiError::bad_request(format!(
                    "Wrong parameter '{name}' value: {BOOL_HINT}"
                ))),
            })
            .transpose()
    }

    pub fn date(&self, name: &str) -> ApiResult<Option<i64>> {
        self.str(name)
            .map(|v| {
                parse_date(v).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "Wrong parameter '{name}' value: expected UNIX seconds or a date \
                         'yyyy-MM-dd HH:mm:ss Z', 'yyyy-MM-dd HH:mm:ss' or 'yyyy-MM-dd', got '{v}'"
                    ))
                })
            })
            .transpose()
    }

    /// A comma list of integers (`productId=1,2,3`).
    pub fn int_list(&self, name: &str) -> ApiResult<Option<Vec<i64>>> {
        self.str(name)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| {
                        s.parse::<i64>().map_err(|_| {
                            ApiError::bad_request(format!(
                                "Wrong parameter '{name}' value: expected a comma separated \
                                 list of integers, got '{v}'"
                            ))
                        })
                    })
                    .collect()
            })
            .transpose()
    }

    pub fn str_list(&self, name: &str) -> Option<Vec<String>> {
        self.str(name).map(|v| {
            v.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
    }

    /// `offset` and `limit`: negative values are refused, `limit` above 100 is clamped to 100
    /// (the contract's pick), a missing `limit` takes the endpoint's default.
    pub fn paging(&self, default_limit: usize) -> ApiResult<(usize, usize)> {
        let offset = self.int("offset")?.unwrap_or(0);
        if offset < 0 {
            return Err(ApiError::bad_request(
                "Wrong parameter 'offset' value: must not be negative",
            ));
        }
        let limit = self.int("limit")?.unwrap_or(default_limit as i64);
        if limit < 0 {
            return Err(ApiError::bad_request(
                "Wrong parameter 'limit' value: must not be negative",
            ));
        }
        Ok((offset as usize, limit.min(100) as usize))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_accept_the_documented_spellings_only() {
        let q = Query::parse(Some("a=yes&b=0&c=maybe")).unwrap();
        assert_eq!(q.bool("a").unwrap(), Some(true));
        assert_eq!(q.bool("b").unwrap(), Some(false));
        let err = q.bool("c").unwrap_err();
        assert!(err.message.contains("'c'"), "{}", err.message);
    }

    #[test]
    fn limit_is_clamped_and_lists_parse() {
        let q = Query::parse(Some("limit=500&offset=3&productId=1,%202,3")).unwrap();
        assert_eq!(q.paging(100).unwrap(), (3, 100));
        assert_eq!(q.int_list("productId").unwrap(), Some(vec![1, 2, 3]));
        assert!(Query::parse(Some("offset=x")).unwrap().paging(10).is_err());
    }
}
