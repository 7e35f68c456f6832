//! HTTP plumbing shared by handlers: the caller extractor, output formats, ETags and the
//! response cache, cursors, and the middleware that turns every error into the JSON error body.

use std::future::Future;

use axum::body::Body;
use axum::extract::{FromRequestParts, Request};
use axum::http::header::{
    AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, ETAG, HeaderMap, HeaderValue, IF_NONE_MATCH,
};
use axum::http::request::Parts;
use axum::http::{StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::{Cached, Shared};

/// JSON content type.
pub const JSON: &str = "application/json";
/// CSV content type.
pub const CSV: &str = "text/csv; charset=utf-8";
/// HTML content type.
pub const HTML: &str = "text/html; charset=utf-8";
/// Parquet content type.
pub const PARQUET: &str = "application/vnd.apache.parquet";

impl FromRequestParts<Shared> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Caller, ApiError> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|h| h.to_str().ok());
        let token = match header {
            Some(h) => Some(
                h.strip_prefix("Bearer ")
                    .ok_or_else(|| {
                        ApiError::Unauthorized(
                            "the Authorization header must be 'Bearer <token>'".into(),
                        )
                    })?
                    .trim()
                    .to_string(),
            ),
            // Pages opened in a browser cannot send a header: they may carry the token in the
            // query (it is removed from the logged URI).
            None if is_page(parts.uri.path()) => query_param(&parts.uri, "access_token"),
            None => None,
        };
        match token {
            None if state.config.require_token => Err(ApiError::Unauthorized(
                "this server needs a token: send 'Authorization: Bearer <token>' (`marmot tokens add`)"
                    .into(),
            )),
            None => Ok(Caller::anonymous()),
            Some(t) => state
                .tokens
                .lookup(&t)
                .map_err(|e| ApiError::Internal(e.to_string()))?
                .ok_or_else(|| ApiError::Unauthorized("unknown or revoked token".into())),
        }
    }
}

/// Paths of HTML pages (tokens may come in the query there).
pub fn is_page(path: &str) -> bool {
    path.starts_with("/reports/") || path.starts_with("/dashboards") || path.starts_with("/views/")
}

fn query_param(uri: &Uri, name: &str) -> Option<String> {
    uri.query()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| v.to_string())
    })
}

/// `json` or `csv`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// JSON (default).
    #[default]
    Json,
    /// CSV with a header row.
    Csv,
}

impl Format {
    /// Parses the `format` parameter.
    pub fn parse(s: Option<&str>) -> ApiResult<Format> {
        match s {
            None | Some("json") => Ok(Format::Json),
            Some("csv") => Ok(Format::Csv),
            Some(o) => Err(ApiError::bad(
                "bad_format",
                format!("format '{o}' is not offered (json or csv)"),
            )),
        }
    }
}

/// Serialises as JSON bytes.
pub fn json_bytes<T: Serialize>(value: &T) -> ApiResult<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| ApiError::Internal(format!("json: {e}")))
}

/// A strong ETag of a body.
pub fn etag_of(body: &[u8]) -> String {
    format!("\"{}\"", &hex::encode(Sha256::digest(body))[..32])
}

/// Answers from the cache, or computes, caches and answers. `key` must say everything the body
/// depends on apart from the data version and the role's suppression class, which are added
/// here. Honours `If-None-Match`.
pub async fn cached<F>(
    state: &Shared,
    caller: &Caller,
    headers: &HeaderMap,
    key: &str,
    compute: F,
) -> ApiResult<Response>
where
    F: Future<Output = ApiResult<(&'static str, Vec<u8>)>>,
{
    let snap = state.snapshot();
    let full = format!(
        "{key}#{}#{}",
        if caller.role.suppressed() {
            "suppressed"
        } else {
            "full"
        },
        snap.generation
    );
    if let Some(c) = state.responses.get(&full) {
        return Ok(respond(headers, c));
    }
    // Single flight: concurrent misses of one key wait for the first to compute it.
    let flight = state.responses.enter(&full).await;
    let entry = match state.responses.get(&full) {
        Some(c) => Ok(c),
        None => {
            tracing::debug!(key = %full, "response computed");
            compute.await.map(|(content_type, body)| {
                let c = Cached {
                    content_type,
                    etag: etag_of(&body),
                    body: body.into(),
                };
                state.responses.put(full.clone(), c.clone());
                c
            })
        }
    };
    drop(flight);
    Ok(respond(headers, entry?))
}

/// A response with ETag (304 when the client has it).
pub fn respond(headers: &HeaderMap, c: Cached) -> Response {
    let matches = headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == c.etag || t.trim() == "*"));
    let mut resp = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(CONTENT_TYPE, c.content_type)], c.body).into_response()
    };
    if let Ok(v) = HeaderValue::from_str(&c.etag) {
        resp.headers_mut().insert(ETAG, v);
    }
    resp.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    resp
}

/// A body with its content type and an ETag, not cached.
pub fn fresh(headers: &HeaderMap, content_type: &'static str, body: Vec<u8>) -> Response {
    respond(
        headers,
        Cached {
            content_type,
            etag: etag_of(&body),
            body: body.into(),
        },
    )
}

/// Encodes a cursor (an opaque, key-based position: it stays valid when rows are added).
pub fn encode_cursor(parts: &[&str]) -> String {
    hex::encode(parts.join("\u{1f}"))
}

/// Decodes a cursor.
pub fn decode_cursor(cursor: &str) -> ApiResult<Vec<String>> {
    let bytes = hex::decode(cursor)
        .map_err(|_| ApiError::bad("bad_cursor", "the cursor is not one this API gave"))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| ApiError::bad("bad_cursor", "the cursor is not one this API gave"))?;
    Ok(text.split('\u{1f}').map(str::to_string).collect())
}

/// Page size: default 1,000, at most 10,000.
pub fn page_limit(limit: Option<usize>) -> ApiResult<usize> {
    match limit {
        None => Ok(1000),
        Some(0) => Err(ApiError::bad("bad_limit", "limit must be at least 1")),
        Some(n) if n > 10_000 => Err(ApiError::bad("bad_limit", "limit is at most 10000")),
        Some(n) => Ok(n),
    }
}

/// Query of a paged list.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
pub struct PageQuery {
    /// Items per page (default 1,000, at most 10,000).
    pub limit: Option<usize>,
    /// Where to continue (from the `X-Next-Cursor` header or the `Link: rel="next"` header).
    pub cursor: Option<String>,
}

/// One page of a list whose items are in `key` order (ascending, or descending when
/// `descending`): the items after the cursor, at most `limit`, and the next cursor. Cursors are
/// keys, not offsets, so a page boundary stays put when items are added.
pub fn page_by_key<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> String,
    descending: bool,
    q: &PageQuery,
) -> ApiResult<(Vec<T>, Option<String>)> {
    let limit = page_limit(q.limit)?;
    let after = q
        .cursor
        .as_deref()
        .map(decode_cursor)
        .transpose()?
        .and_then(|v| v.into_iter().next());
    let mut out: Vec<T> = items
        .into_iter()
        .filter(|i| match &after {
            None => true,
            Some(a) if descending => key(i) < *a,
            Some(a) => key(i) > *a,
        })
        .collect();
    let more = out.len() > limit;
    out.truncate(limit);
    let next = if more {
        out.last().map(|i| encode_cursor(&[&key(i)]))
    } else {
        None
    };
    Ok((out, next))
}

/// A JSON list with the next page's cursor in `X-Next-Cursor` and `Link: <?cursor=...>; rel="next"`.
pub fn json_page<T: Serialize>(items: &[T], next: Option<String>) -> ApiResult<Response> {
    let mut resp = ([(CONTENT_TYPE, JSON)], json_bytes(&items)?).into_response();
    if let Some(n) = next {
        if let Ok(v) = HeaderValue::from_str(&n) {
            resp.headers_mut().insert("x-next-cursor", v);
        }
        if let Ok(v) = HeaderValue::from_str(&format!("<?cursor={n}>; rel=\"next\"")) {
            resp.headers_mut().insert("link", v);
        }
    }
    Ok(resp)
}

/// Every error response (including axum's own rejections, 404s of unknown routes and 413s
/// from the body limit) leaves with the JSON error body.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(JSON));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).to_string())
        .unwrap_or_default();
    let err = match status {
        StatusCode::NOT_FOUND => ApiError::not_found("not_found", "no such resource"),
        StatusCode::METHOD_NOT_ALLOWED => {
            ApiError::bad("method_not_allowed", "method not allowed here")
        }
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge(format!(
            "the request body is larger than the server accepts: {text}"
        )),
        StatusCode::REQUEST_TIMEOUT => ApiError::Timeout("the request took too long".into()),
        s if s.is_client_error() => ApiError::bad(
            "bad_request",
            if text.is_empty() { s.to_string() } else { text },
        ),
        _ => ApiError::Internal(text),
    };
    let mut out = err.into_response();
    *out.status_mut() = parts.status;
    out
}

/// Ends a request that takes longer than the configured time with a JSON 408.
pub async fn time_limit(
    axum::extract::State(state): axum::extract::State<Shared>,
    req: Request<Body>,
    next: Next,
) -> Response {
    match tokio::time::timeout(state.config.request_timeout, next.run(req)).await {
        Ok(r) => r,
        Err(_) => ApiError::Timeout(format!(
            "the request took longer than {} s",
            state.config.request_timeout.as_secs()
        ))
        .into_response(),
    }
}

/// Splits `name.ext` (extension lower-cased).
pub fn split_ext(file: &str) -> ApiResult<(&str, String)> {
    file.rsplit_once('.')
        .map(|(n, e)| (n, e.to_ascii_lowercase()))
        .ok_or_else(|| ApiError::not_found("not_found", format!("'{file}' needs a file extension")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_cursors_survive_inserts_before_the_boundary() {
        let q = |cursor: Option<String>| PageQuery {
            limit: Some(2),
            cursor,
        };
        let items = vec!["a", "c", "e", "g"];
        let (p1, next) = page_by_key(items.clone(), |s| s.to_string(), false, &q(None)).unwrap();
        assert_eq!(p1, ["a", "c"]);
        // An item lands before the boundary: the next page neither repeats nor skips.
        let grown = vec!["a", "b", "c", "e", "g"];
        let (p2, next2) = page_by_key(grown, |s| s.to_string(), false, &q(next)).unwrap();
        assert_eq!(p2, ["e", "g"]);
        assert_eq!(next2, None);
        let (d, _) = page_by_key(
            vec!["g", "e", "c"],
            |s| s.to_string(),
            true,
            &q(Some(encode_cursor(&["e"]))),
        )
        .unwrap();
        assert_eq!(d, ["c"]);
        assert!(decode_cursor("not hex").is_err());
        assert!(page_limit(Some(0)).is_err() && page_limit(Some(10_001)).is_err());
    }

    #[test]
    fn formats_and_file_names() {
        assert_eq!(Format::parse(None).unwrap(), Format::Json);
        assert_eq!(Format::parse(Some("csv")).unwrap(), Format::Csv);
        assert!(Format::parse(Some("xml")).is_err());
        assert_eq!(split_ext("a.b.PNG").unwrap(), ("a.b", "png".to_string()));
        assert!(split_ext("noext").is_err());
        assert!(is_page("/reports/weekly/x.html") && !is_page("/api/v1/sql"));
        assert_eq!(etag_of(b"x"), etag_of(b"x"));
        assert_ne!(etag_of(b"x"), etag_of(b"y"));
    }
}
