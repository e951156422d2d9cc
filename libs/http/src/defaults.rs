//! Problem+json in place of actix-web's plain-text defaults: JSON body,
//! path and query extractor errors, unknown paths (404) and unsupported
//! methods (405), applied with [`configure_defaults`].
//!
//! Mapping: malformed JSON → 400 `malformed-json` naming line and column;
//! well-formed JSON of the wrong shape → 422 `invalid-body`; missing or
//! non-JSON content type → 415; body over the limit → 413; a path or query
//! parameter that does not parse → 400 naming the parameter when it can be
//! identified.

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::{Method, StatusCode, header};
use actix_web::web::{self, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse, ResponseError};

use crate::problem::{FieldError, Problem};

/// The default JSON body limit: 256 KiB.
pub const DEFAULT_JSON_LIMIT_BYTES: usize = 256 * 1024;

/// The longest request path echoed back in a 404 detail.
const MAX_ECHOED_PATH: usize = 256;

/// Request limits applied by [`configure_defaults`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest accepted JSON body, in bytes.
    pub json_limit_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            json_limit_bytes: DEFAULT_JSON_LIMIT_BYTES,
        }
    }
}

/// Installs the problem+json extractor configs and the 404 default service.
///
/// Use with `App::configure` or inside a `ServiceConfig`; add the
/// [`crate::ProblemResponses`] middleware too so that every other error
/// response (e.g. a resource's plain 405) also becomes problem+json.
pub fn configure_defaults(cfg: &mut ServiceConfig, limits: Limits) {
    cfg.app_data(json_config(limits))
        .app_data(path_config())
        .app_data(query_config())
        .default_service(web::to(not_found));
}

/// `JsonConfig` with the body limit and problem+json errors.
pub fn json_config(limits: Limits) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limits.json_limit_bytes)
        .error_handler(|error, _req| json_problem(&error).into())
}

/// `PathConfig` with problem+json errors naming the parameter.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|error, req| path_problem(&error, req).into())
}

/// `QueryConfig` with problem+json errors naming the parameter.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|error, req| query_problem(&error, req).into())
}

/// The problem for a JSON body error.
pub fn json_problem(error: &JsonPayloadError) -> Problem {
    match error {
        JsonPayloadError::OverflowKnownLength { length, limit } => {
            Problem::new(StatusCode::PAYLOAD_TOO_LARGE).with_detail(format!(
                "request body is {length} bytes, the limit is {limit} bytes"
            ))
        }
        JsonPayloadError::Overflow { limit } => Problem::new(StatusCode::PAYLOAD_TOO_LARGE)
            .with_detail(format!("request body exceeds the limit of {limit} bytes")),
        JsonPayloadError::ContentType => Problem::new(StatusCode::UNSUPPORTED_MEDIA_TYPE)
            .with_detail("request body must have content type application/json"),
        JsonPayloadError::Deserialize(source) => {
            let position = format!("line {} column {}", source.line(), source.column());
            if source.is_data() {
                Problem::typed(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid-body",
                    "Invalid request body",
                )
                .with_detail(format!(
                    "request body does not match the expected shape: {source}"
                ))
                .with_extension("line", source.line())
                .with_extension("column", source.column())
                .with_errors([FieldError::new("body", source.to_string())])
            } else {
                Problem::typed(StatusCode::BAD_REQUEST, "malformed-json", "Malformed JSON")
                    .with_detail(format!("request body is not valid JSON: {source}"))
                    .with_extension("line", source.line())
                    .with_extension("column", source.column())
                    .with_errors([FieldError::new(
                        "body",
                        format!("invalid JSON at {position}"),
                    )])
            }
        }
        JsonPayloadError::Payload(source) => Problem::new(source.status_code())
            .with_detail(format!("request body could not be read: {source}")),
        other => {
            let status = other.status_code();
            if status.is_server_error() {
                tracing::error!(error = %other, "JSON extractor failed");
                Problem::internal()
            } else {
                Problem::new(status).with_detail(other.to_string())
            }
        }
    }
}

/// The problem for a path parameter that does not parse.
pub fn path_problem(error: &PathError, req: &HttpRequest) -> Problem {
    let message = match error {
        PathError::Deserialize(source) => source.to_string(),
        other => other.to_string(),
    };
    let params: Vec<(String, String)> = req
        .match_info()
        .iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    parameter_problem(
        "invalid-path-parameter",
        "Invalid path parameter",
        "path",
        &message,
        &params,
    )
}

/// The problem for a query string that does not parse.
pub fn query_problem(error: &QueryPayloadError, req: &HttpRequest) -> Problem {
    let message = match error {
        QueryPayloadError::Deserialize(source) => source.to_string(),
        other => other.to_string(),
    };
    let params: Vec<(String, String)> = form_pairs(req.query_string());
    parameter_problem(
        "invalid-query-parameter",
        "Invalid query parameter",
        "query",
        &message,
        &params,
    )
}

/// Builds a 400 naming the parameter when the message identifies it: serde
/// names missing/unknown fields in backquotes, and quotes the raw value it
/// could not parse.
fn parameter_problem(
    slug: &str,
    title: &str,
    location: &str,
    message: &str,
    params: &[(String, String)],
) -> Problem {
    let named = backquoted(message).or_else(|| {
        let mut quoted = params
            .iter()
            .filter(|(_, value)| message.contains(&format!("\"{value}\"")));
        match (quoted.next(), quoted.next()) {
            (Some((name, _)), None) => Some(name.clone()),
            _ => None,
        }
    });
    let problem = Problem::typed(StatusCode::BAD_REQUEST, slug, title);
    match named {
        Some(name) => problem
            .with_detail(format!(
                "{location} parameter `{name}` is invalid: {message}"
            ))
            .with_errors([FieldError::new(name, message)]),
        None => problem
            .with_detail(format!("{location} parameters are invalid: {message}"))
            .with_errors([FieldError::new(location, message)]),
    }
}

/// The field in serde's "missing field `name`", "unknown field `name`, ..."
/// or "duplicate field `name`" (not in "unknown variant `v`", which names a value).
fn backquoted(message: &str) -> Option<String> {
    let rest = ["missing field `", "unknown field `", "duplicate field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))?;
    let (name, _) = rest.split_once('`')?;
    (!name.is_empty()).then(|| name.to_owned())
}

/// Decoded `name=value` pairs of a query string (best effort, for naming only).
fn form_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(name), percent_decode(value))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The default service: a 404 problem naming the method and path — or a
/// 405 when a route exists for the path under another method (what
/// `App::route(path, web::post()...)` leaves to the default service), judged
/// by path alone, so a route excluded by a non-method guard also reads as 405.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    let path: String = req.path().chars().take(MAX_ECHOED_PATH).collect();
    if req.resource_map().has_resource(req.path()) {
        return Problem::new(StatusCode::METHOD_NOT_ALLOWED)
            .with_detail(format!("method {} is not allowed on {path}", req.method()))
            .to_response();
    }
    Problem::new(StatusCode::NOT_FOUND)
        .with_detail(format!("no resource matches {} {path}", req.method()))
        .to_response()
}

/// A resource's default service answering 405 with an `Allow` header:
/// `web::resource("/x").route(web::get().to(h)).default_service(method_not_allowed(&[Method::GET]))`.
///
/// Without it, a resource's 405 still becomes problem+json through
/// [`crate::ProblemResponses`], but without `Allow` (actix does not expose a
/// resource's methods).
pub fn method_not_allowed(allowed: &[Method]) -> actix_web::Route {
    let allow = allowed
        .iter()
        .map(Method::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    web::to(move |req: HttpRequest| {
        let allow = allow.clone();
        async move {
            Problem::new(StatusCode::METHOD_NOT_ALLOWED)
                .with_detail(format!(
                    "method {} is not allowed here; allowed: {allow}",
                    req.method()
                ))
                .with_header(header::ALLOW.as_str(), &allow)
                .to_response()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_backquoted_fields() {
        assert_eq!(
            backquoted("missing field `limit`").as_deref(),
            Some("limit")
        );
        assert_eq!(
            backquoted("unknown field `lmit`, expected `limit`").as_deref(),
            Some("lmit")
        );
        assert_eq!(backquoted("unknown variant `x`, expected `a`"), None);
        assert_eq!(backquoted("no quotes"), None);
        assert_eq!(backquoted("missing field ``"), None);
    }

    #[test]
    fn names_the_parameter_whose_value_is_quoted() {
        let params = vec![
            ("shipment".to_owned(), "s1".to_owned()),
            ("id".to_owned(), "abc".to_owned()),
        ];
        let problem = parameter_problem(
            "invalid-path-parameter",
            "Invalid path parameter",
            "path",
            "can not parse \"abc\" to a u32",
            &params,
        );
        assert_eq!(
            problem.detail(),
            Some("path parameter `id` is invalid: can not parse \"abc\" to a u32")
        );
    }

    #[test]
    fn decodes_query_pairs() {
        assert_eq!(
            form_pairs("a=1&b=x%20y+z&c&%zz=%4"),
            vec![
                ("a".to_owned(), "1".to_owned()),
                ("b".to_owned(), "x y z".to_owned()),
                ("c".to_owned(), String::new()),
                ("%zz".to_owned(), "%4".to_owned()),
            ]
        );
    }
}
