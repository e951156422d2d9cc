//! `Allow` on every 405 (RFC 9110 §15.5.6 requires it): actix answers 405
//! when a path matches a resource but no route's method does, and does not
//! say which methods would. The OpenAPI document does: [`AllowFromDocument`]
//! matches the request path against the document's path templates and
//! lists their methods.
//!
//! Paths outside the document (health, metrics, the docs, web pages and
//! their assets) are all GET-only in every tracechain service, so a 405 on
//! one of them says `Allow: GET`.

use std::future::{Ready, ready};
use std::rc::Rc;
use std::sync::Arc;

use actix_web::Error;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use futures::future::LocalBoxFuture;
use utoipa::openapi::OpenApi;

/// One segment of a path template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// Matches itself.
    Literal(String),
    /// `prefix{name}suffix`: any non-empty text between them.
    Parameter { prefix: String, suffix: String },
}

impl Segment {
    fn parse(text: &str) -> Segment {
        match (text.find('{'), text.rfind('}')) {
            (Some(open), Some(close)) if open < close => Segment::Parameter {
                prefix: text[..open].to_owned(),
                suffix: text[close + 1..].to_owned(),
            },
            _ => Segment::Literal(text.to_owned()),
        }
    }

    fn matches(&self, text: &str) -> bool {
        match self {
            Segment::Literal(literal) => literal == text,
            Segment::Parameter { prefix, suffix } => {
                text.len() > prefix.len() + suffix.len()
                    && text.starts_with(prefix.as_str())
                    && text.ends_with(suffix.as_str())
            }
        }
    }
}

/// The methods of each documented path template.
#[derive(Debug, Default)]
pub struct AllowedMethods {
    templates: Vec<(Vec<Segment>, String)>,
}

impl AllowedMethods {
    /// The table of `document`'s paths.
    pub fn from_document(document: &OpenApi) -> AllowedMethods {
        let templates = document
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let item = serde_json::to_value(item).unwrap_or_default();
                let methods: Vec<String> = [
                    "get", "put", "post", "delete", "options", "head", "patch", "trace",
                ]
                .iter()
                .filter(|m| item.get(**m).is_some())
                .map(|m| m.to_ascii_uppercase())
                .collect();
                let segments = path
                    .trim_start_matches('/')
                    .split('/')
                    .map(Segment::parse)
                    .collect();
                (segments, methods.join(", "))
            })
            .collect();
        AllowedMethods { templates }
    }

    /// The `Allow` value for `path`: the methods of the first template it
    /// matches (literal templates before parameterised ones), else `GET`.
    pub fn allow(&self, path: &str) -> &str {
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let matching = |(segments, _): &&(Vec<Segment>, String)| {
            segments.len() == parts.len() && segments.iter().zip(&parts).all(|(s, p)| s.matches(p))
        };
        let literal = |(segments, _): &&(Vec<Segment>, String)| {
            segments.iter().all(|s| matches!(s, Segment::Literal(_)))
        };
        self.templates
            .iter()
            .filter(matching)
            .find(literal)
            .or_else(|| self.templates.iter().find(matching))
            .map_or("GET", |(_, methods)| methods.as_str())
    }
}

/// Middleware adding `Allow` to 405 responses that lack it.
#[derive(Debug, Clone)]
pub struct AllowFromDocument {
    table: Arc<AllowedMethods>,
}

impl AllowFromDocument {
    /// The middleware for `document`'s paths.
    pub fn new(document: &OpenApi) -> AllowFromDocument {
        AllowFromDocument {
            table: Arc::new(AllowedMethods::from_document(document)),
        }
    }
}

impl<S, B> Transform<S, ServiceRequest> for AllowFromDocument
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Transform = AllowMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(AllowMiddleware {
            service: Rc::new(service),
            table: Arc::clone(&self.table),
        }))
    }
}

/// The service [`AllowFromDocument`] wraps around the app.
#[derive(Debug)]
pub struct AllowMiddleware<S> {
    service: Rc<S>,
    table: Arc<AllowedMethods>,
}

impl<S, B> Service<ServiceRequest> for AllowMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let path = req.path().to_owned();
        let table = Arc::clone(&self.table);
        let fut = self.service.call(req);
        Box::pin(async move {
            let mut response = fut.await?;
            if response.status() == StatusCode::METHOD_NOT_ALLOWED
                && !response.headers().contains_key(header::ALLOW)
                && let Ok(value) = HeaderValue::from_str(table.allow(&path))
            {
                response.headers_mut().insert(header::ALLOW, value);
            }
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests {
    use utoipa::openapi::OpenApiBuilder;
    use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem, PathsBuilder};

    use super::*;

    fn document() -> OpenApi {
        let op = || OperationBuilder::new().build();
        let mut list = PathItem::new(HttpMethod::Get, op());
        list.post = Some(op());
        OpenApiBuilder::new()
            .paths(
                PathsBuilder::new()
                    .path("/v1/shipments", list)
                    .path("/v1/shipments/{id}", PathItem::new(HttpMethod::Get, op()))
                    .path(
                        "/v1/shipments/{id}/label.png",
                        PathItem::new(HttpMethod::Get, op()),
                    )
                    .path("/v1/scans/batch", PathItem::new(HttpMethod::Post, op()))
                    .path("/v1/scans/{id}", PathItem::new(HttpMethod::Delete, op())),
            )
            .build()
    }

    #[test]
    fn templates_match_segments_and_literals_win() {
        let table = AllowedMethods::from_document(&document());
        assert_eq!(table.allow("/v1/shipments"), "GET, POST");
        assert_eq!(table.allow("/v1/shipments/abc"), "GET");
        assert_eq!(table.allow("/v1/shipments/abc/label.png"), "GET");
        assert_eq!(table.allow("/v1/scans/batch"), "POST");
        assert_eq!(table.allow("/v1/scans/x"), "DELETE");
        // Undocumented pages are GET-only.
        assert_eq!(table.allow("/scan/scan.js"), "GET");
        assert_eq!(table.allow("/v1/shipments/abc/label.gif"), "GET");
    }
}
