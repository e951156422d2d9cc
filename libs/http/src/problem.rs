//! RFC 9457 problem details (`application/problem+json`), the only error body
//! a tracechain service sends, and [`ApiError`], the one place per service
//! where typed errors become HTTP.
//!
//! Invariants: `status` is an HTTP error status (400..=599; anything else
//! renders as 500); extension members never shadow the standard members
//! (`type`, `title`, `status`, `detail`, `instance`); a 5xx problem built from
//! an [`ApiError`] never carries the error's own text: the error is logged
//! with `%error` and the client gets a generic detail plus the request id.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The media type of every problem body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The base URI of tracechain's own problem types; a slug is appended.
pub const PROBLEM_TYPE_BASE: &str = "https://tracechain.dev/problems/";

/// The default problem type: no semantics beyond the status code.
pub const ABOUT_BLANK: &str = "about:blank";

/// Members that extensions may not use.
const RESERVED_MEMBERS: [&str; 5] = ["type", "title", "status", "detail", "instance"];

/// What a client is told about a failed request (RFC 9457).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI identifying the problem type; `about:blank` or
    /// `https://tracechain.dev/problems/<slug>`.
    #[serde(rename = "type", default = "about_blank")]
    type_uri: String,
    /// A short, human-readable summary of the problem type.
    title: String,
    /// The HTTP status code.
    status: u16,
    /// An explanation specific to this occurrence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
    /// A URI reference identifying this occurrence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    instance: Option<String>,
    /// Extension members, e.g. `errors` or `request_id`.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    extensions: Map<String, Value>,
    /// Response headers to send along (e.g. `WWW-Authenticate`, `Allow`).
    #[serde(skip)]
    #[schema(ignore)]
    headers: Vec<(HeaderName, HeaderValue)>,
}

fn about_blank() -> String {
    ABOUT_BLANK.to_owned()
}

/// One invalid input field, listed in a problem's `errors` extension.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FieldError {
    /// The field, parameter or header name (a JSON pointer-like path for bodies).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    /// The first three errors as `field: message; …`, then how many more:
    /// the detail line of a 422 listing `errors`.
    pub fn describe(errors: &[FieldError]) -> String {
        let mut text = errors
            .iter()
            .take(3)
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        if errors.len() > 3 {
            text.push_str(&format!(" (and {} more)", errors.len() - 3));
        }
        text
    }

    /// A field error.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl Problem {
    /// An `about:blank` problem titled with the status's reason phrase.
    pub fn new(status: StatusCode) -> Self {
        let status = error_status(status);
        Self {
            type_uri: about_blank(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: None,
            instance: None,
            extensions: Map::new(),
            headers: Vec::new(),
        }
    }

    /// A problem of tracechain's type `https://tracechain.dev/problems/<slug>`.
    pub fn typed(status: StatusCode, slug: &str, title: impl Into<String>) -> Self {
        let mut problem = Self::new(status);
        problem.type_uri = format!("{PROBLEM_TYPE_BASE}{slug}");
        problem.title = title.into();
        problem
    }

    /// A 500 problem with a generic detail; what every internal error becomes.
    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR)
            .with_detail("an internal error occurred; quote the request id when reporting it")
    }

    /// Sets the occurrence-specific explanation.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Sets the occurrence URI reference.
    pub fn with_instance(mut self, instance: impl Into<String>) -> Self {
        self.instance = Some(instance.into());
        self
    }

    /// Adds an extension member; a reserved name (`type`, `title`, ...) is ignored.
    pub fn with_extension(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        let name = name.into();
        if !RESERVED_MEMBERS.contains(&name.as_str()) {
            self.extensions.insert(name, value.into());
        }
        self
    }

    /// Sets the `errors` extension: the invalid fields.
    pub fn with_errors(self, errors: impl IntoIterator<Item = FieldError>) -> Self {
        let errors: Vec<Value> = errors
            .into_iter()
            .map(|e| serde_json::json!({ "field": e.field, "message": e.message }))
            .collect();
        self.with_extension("errors", errors)
    }

    /// Adds a response header; invalid names or values are dropped.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name),
            HeaderValue::try_from(value.to_owned()),
        ) {
            self.headers.push((name, value));
        }
        self
    }

    /// The problem type URI.
    pub fn type_uri(&self) -> &str {
        &self.type_uri
    }

    /// The title.
    pub fn title(&self) -> &str {
        &self.title
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status)
            .map(error_status)
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The detail, if any.
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }

    /// The instance, if any.
    pub fn instance(&self) -> Option<&str> {
        self.instance.as_deref()
    }

    /// One extension member.
    pub fn extension(&self, name: &str) -> Option<&Value> {
        self.extensions.get(name)
    }

    /// The headers sent with this problem.
    pub fn headers(&self) -> &[(HeaderName, HeaderValue)] {
        &self.headers
    }

    /// The response: status, headers, `application/problem+json` body. A copy
    /// of the problem rides in the response extensions so the
    /// [`crate::ProblemResponses`] middleware can add the request id.
    pub fn to_response(&self) -> HttpResponse {
        let mut builder = HttpResponse::build(self.status());
        for (name, value) in &self.headers {
            builder.insert_header((name.clone(), value.clone()));
        }
        builder.insert_header((header::CONTENT_TYPE, PROBLEM_JSON));
        let mut response = builder.body(self.body());
        response.extensions_mut().insert(self.clone());
        response
    }

    /// The JSON body.
    pub fn body(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_else(|_| {
            // Unreachable in practice (string keys only); never panic.
            br#"{"type":"about:blank","title":"Internal Server Error","status":500}"#.to_vec()
        })
    }
}

/// Maps non-error statuses to 500: a problem always describes a failure.
fn error_status(status: StatusCode) -> StatusCode {
    if status.is_client_error() || status.is_server_error() {
        status
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.detail {
            Some(detail) => write!(f, "{} ({}): {detail}", self.title, self.status),
            None => write!(f, "{} ({})", self.title, self.status),
        }
    }
}

impl std::error::Error for Problem {}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse {
        self.to_response()
    }
}

/// A service's error type, mapped to a [`Problem`] in one place.
///
/// Implement it once for the service's error enum, then call
/// [`crate::impl_response_error!`] so handlers can return `Result<_, E>`:
///
/// ```
/// use actix_web::http::StatusCode;
/// use tracechain_http::{ApiError, Problem, impl_response_error};
///
/// #[derive(Debug, thiserror::Error)]
/// enum ShipmentError {
///     #[error("shipment {0} not found")]
///     NotFound(String),
///     #[error("store unavailable")]
///     Store(#[source] std::io::Error),
/// }
///
/// impl ApiError for ShipmentError {
///     fn problem(&self) -> Problem {
///         match self {
///             Self::NotFound(_) => Problem::typed(StatusCode::NOT_FOUND, "shipment-not-found", "Shipment not found")
///                 .with_detail(self.to_string()),
///             // 5xx: the text is logged, never sent.
///             Self::Store(_) => Problem::internal(),
///         }
///     }
/// }
/// impl_response_error!(ShipmentError);
/// ```
pub trait ApiError: std::error::Error {
    /// The problem that describes this error to the client.
    fn problem(&self) -> Problem;
}

/// The status of an [`ApiError`].
pub fn status_of<E: ApiError + ?Sized>(error: &E) -> StatusCode {
    error.problem().status()
}

/// The response for an [`ApiError`]: 4xx problems as given (logged at debug),
/// typed 503s (a dependency is unavailable; written for clients) as given,
/// other 5xx replaced by [`Problem::internal`] after logging the error and
/// its source chain with `%error`.
pub fn error_response<E: ApiError + ?Sized>(error: &E) -> HttpResponse {
    let problem = error.problem();
    let status = problem.status();
    // A typed 503 (the event bus or the store is unavailable) is written for
    // clients: it says what to do (retry after) and carries no internals.
    let typed_unavailable =
        status == StatusCode::SERVICE_UNAVAILABLE && problem.type_uri != ABOUT_BLANK;
    if typed_unavailable {
        tracing::warn!(
            error = %ErrorChain(error),
            status = status.as_u16(),
            "Request failed: a dependency is unavailable"
        );
        problem.to_response()
    } else if status.is_server_error() {
        tracing::error!(
            error = %ErrorChain(error),
            status = status.as_u16(),
            "Request failed with an internal error"
        );
        let mut generic = Problem::internal();
        generic.status = status.as_u16();
        generic.title = status
            .canonical_reason()
            .unwrap_or("Internal Server Error")
            .to_owned();
        generic.headers = problem.headers;
        generic.to_response()
    } else {
        tracing::debug!(
            error = %ErrorChain(error),
            status = status.as_u16(),
            "Request refused"
        );
        problem.to_response()
    }
}

/// Displays an error followed by its `source()` chain, `: `-separated.
#[derive(Debug)]
pub struct ErrorChain<'a, E: ?Sized>(pub &'a E);

impl<E: std::error::Error + ?Sized> fmt::Display for ErrorChain<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

/// Implements `actix_web::ResponseError` for a type implementing [`ApiError`],
/// so handlers can return `Result<T, ThatType>` and `?` works.
#[macro_export]
macro_rules! impl_response_error {
    ($ty:ty) => {
        impl $crate::__private::actix_web::ResponseError for $ty {
            fn status_code(&self) -> $crate::__private::actix_web::http::StatusCode {
                $crate::problem::status_of(self)
            }

            fn error_response(&self) -> $crate::__private::actix_web::HttpResponse {
                $crate::problem::error_response(self)
            }
        }
    };
}

/// Wraps any [`ApiError`] as an `actix_web::ResponseError`, for error types
/// that cannot use [`impl_response_error!`] (e.g. foreign ones).
#[derive(Debug)]
pub struct Failure<E>(pub E);

impl<E> From<E> for Failure<E> {
    fn from(error: E) -> Self {
        Self(error)
    }
}

impl<E: fmt::Display> fmt::Display for Failure<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<E: ApiError> ResponseError for Failure<E> {
    fn status_code(&self) -> StatusCode {
        status_of(&self.0)
    }

    fn error_response(&self) -> HttpResponse {
        error_response(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_standard_members_and_extensions() {
        let problem = Problem::typed(StatusCode::BAD_REQUEST, "malformed-json", "Malformed JSON")
            .with_detail("expected value at line 1 column 1")
            .with_errors([FieldError::new("body", "expected value")])
            .with_extension("type", "ignored");
        let json: Value = serde_json::from_slice(&problem.body()).unwrap();
        assert_eq!(
            json["type"],
            "https://tracechain.dev/problems/malformed-json"
        );
        assert_eq!(json["title"], "Malformed JSON");
        assert_eq!(json["status"], 400);
        assert_eq!(json["detail"], "expected value at line 1 column 1");
        assert_eq!(json["errors"][0]["field"], "body");
        assert!(json.get("instance").is_none());
    }

    #[test]
    fn round_trips_through_serde() {
        let problem = Problem::new(StatusCode::NOT_FOUND)
            .with_instance("/x")
            .with_extension("request_id", "abc");
        let back: Problem = serde_json::from_slice(&problem.body()).unwrap();
        assert_eq!(back, problem);
        assert_eq!(back.type_uri(), ABOUT_BLANK);
        assert_eq!(back.title(), "Not Found");
    }

    #[test]
    fn non_error_status_becomes_500() {
        assert_eq!(
            Problem::new(StatusCode::OK).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    #[derive(Debug, thiserror::Error)]
    #[error("database password is hunter2")]
    struct Leaky;

    impl ApiError for Leaky {
        fn problem(&self) -> Problem {
            Problem::new(StatusCode::SERVICE_UNAVAILABLE).with_detail(self.to_string())
        }
    }

    #[test]
    fn server_errors_never_leak_details() {
        let response = error_response(&Leaky);
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let problem = response.extensions().get::<Problem>().cloned().unwrap();
        assert!(!problem.body().windows(7).any(|w| w == b"hunter2"));
        assert_eq!(problem.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}

#[cfg(test)]
mod schema_tests {
    use super::*;
    use utoipa::PartialSchema;

    #[test]
    fn openapi_schema_lists_the_standard_members() {
        let schema = serde_json::to_value(Problem::schema()).unwrap();
        let text = schema.to_string();
        for member in [
            "\"type\"",
            "\"title\"",
            "\"status\"",
            "\"detail\"",
            "\"instance\"",
        ] {
            assert!(text.contains(member), "{member} missing from {text}");
        }
        assert!(!text.contains("headers"));
    }
}
