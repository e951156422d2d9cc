//! Middleware making every error response problem+json, with the request id.
//!
//! For each response with a 4xx/5xx status: a [`Problem`] response (it
//! carries its problem in the response extensions) is re-rendered with the
//! `request_id` extension; any other error response (actix's plain-text
//! defaults, a bare `HttpResponse::MethodNotAllowed()`, an error returned by
//! an inner middleware) is replaced by an `about:blank` problem for its
//! status, keeping its headers (`Allow`, `WWW-Authenticate`, ...). A 4xx
//! plain-text body becomes the detail; a 5xx body is never sent, and the
//! underlying error, when known, is logged with `%error`.
//!
//! Limit: an `Err` returned by an inner *middleware* (handlers and extractors
//! never do: actix turns their errors into responses) passes through
//! untouched, because the request cannot be cloned before routing.

use std::future::{Ready, ready};

use actix_web::body::{EitherBody, MessageBody, to_bytes_limited};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::header::{self, HeaderMap};
use actix_web::{Error, HttpMessage};
use futures::future::LocalBoxFuture;

use crate::problem::{PROBLEM_JSON, Problem};
use crate::request_id::RequestId;

/// The most bytes of a plain-text 4xx body used as the problem's detail.
const MAX_DETAIL_BYTES: usize = 1024;

/// The middleware factory; wrap it inside [`crate::RequestTelemetry`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ProblemResponses;

impl<S, B> Transform<S, ServiceRequest> for ProblemResponses
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = ProblemResponsesMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(ProblemResponsesMiddleware { service }))
    }
}

/// The middleware service created by [`ProblemResponses`].
#[derive(Debug)]
pub struct ProblemResponsesMiddleware<S> {
    service: S,
}

impl<S, B> Service<ServiceRequest> for ProblemResponsesMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        // The request must not be cloned before routing (actix mutates it in
        // place), so an `Err` from an inner middleware cannot be turned into a
        // response here: it passes through and actix renders it with its
        // `error_response()` (problem+json for `ApiError` types).
        let fut = self.service.call(req);
        Box::pin(async move { Ok(problemise(fut.await?).await) })
    }
}

/// Whether the headers declare a problem+json body.
fn is_problem_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with(PROBLEM_JSON))
}

fn is_plain_text(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/plain"))
}

/// Makes an error response problem+json with the request id; others pass.
async fn problemise<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> ServiceResponse<EitherBody<B>> {
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res.map_into_left_body();
    }
    let request_id = res.request().extensions().get::<RequestId>().cloned();
    let existing = res.response().extensions().get::<Problem>().cloned();
    if let Some(problem) = existing {
        let Some(id) = request_id else {
            return res.map_into_left_body();
        };
        let problem = problem.with_extension("request_id", id.as_str());
        let (req, old) = res.into_parts();
        let mut new = problem.to_response();
        copy_headers(old.headers(), new.headers_mut());
        return ServiceResponse::new(req, new).map_into_right_body();
    }
    if is_problem_json(res.headers()) {
        return res.map_into_left_body();
    }

    let (req, old) = res.into_parts();
    let mut problem = Problem::new(status);
    if status.is_server_error() {
        match old.error() {
            Some(error) => tracing::error!(
                error = %error,
                status = status.as_u16(),
                "Request failed with an internal error"
            ),
            None => tracing::error!(
                status = status.as_u16(),
                "Request failed with a non-problem error response"
            ),
        }
        problem = problem.with_detail(
            Problem::internal()
                .detail()
                .unwrap_or("an internal error occurred")
                .to_owned(),
        );
    }
    let headers = old.headers().clone();
    if status.is_client_error() && is_plain_text(&headers) {
        let body = old.into_body();
        if let Ok(Ok(bytes)) = to_bytes_limited(body, MAX_DETAIL_BYTES).await
            && let Ok(text) = std::str::from_utf8(&bytes)
            && !text.trim().is_empty()
        {
            problem = problem.with_detail(text.trim());
        }
    }
    if let Some(id) = request_id {
        problem = problem.with_extension("request_id", id.as_str());
    }
    let mut new = problem.to_response();
    copy_headers(&headers, new.headers_mut());
    ServiceResponse::new(req, new).map_into_right_body()
}

/// Copies headers the new response lacks, except the body's own.
fn copy_headers(from: &HeaderMap, to: &mut HeaderMap) {
    let present: Vec<_> = to.keys().cloned().collect();
    for (name, value) in from {
        if name == header::CONTENT_TYPE || name == header::CONTENT_LENGTH || present.contains(name)
        {
            continue;
        }
        to.append(name.clone(), value.clone());
    }
}
