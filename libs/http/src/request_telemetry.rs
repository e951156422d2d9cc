//! Middleware giving every request an id, a span, a trace context, a log
//! line and a place in the metrics.
//!
//! Per request: the [`RequestId`] (incoming `X-Request-Id` if valid, else a
//! UUIDv7) goes into the request extensions and onto the response; a span
//! `http_request` carries method, path, request id, and at the end route
//! pattern and status; an incoming W3C `traceparent` becomes the span's
//! parent and the response's `traceparent` names the span (same trace id,
//! new parent id; without the OpenTelemetry layer a random child id of the
//! incoming trace, or a fresh root). When the response is ready:
//! `http_server_requests_total` and `http_server_request_duration_seconds`
//! are recorded and "Request finished" is logged with status and latency.

use std::future::{Ready, ready};
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{Error, HttpMessage};
use futures::future::LocalBoxFuture;
use tracechain_telemetry::{TRACEPARENT_HEADER, TraceParent, set_parent_from, span_trace_parent};
use tracing::Instrument;
use tracing::field::Empty;

use crate::metrics::{HttpLabels, Metrics, method_label, route_label};
use crate::request_id::{REQUEST_ID_HEADER, RequestId};

/// Routes logged at debug rather than info: probes and scrapes.
const QUIET_ROUTES: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// The middleware factory; wrap it outermost.
#[derive(Debug, Clone, Default)]
pub struct RequestTelemetry {
    /// Where request metrics go; `None` records none.
    metrics: Option<Metrics>,
}

impl RequestTelemetry {
    /// Records request metrics into `metrics`.
    pub fn new(metrics: Metrics) -> Self {
        Self {
            metrics: Some(metrics),
        }
    }

    /// Ids, spans and logs, but no metrics.
    pub fn without_metrics() -> Self {
        Self { metrics: None }
    }
}

impl<S, B> Transform<S, ServiceRequest> for RequestTelemetry
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Transform = RequestTelemetryMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RequestTelemetryMiddleware {
            service,
            metrics: self.metrics.clone(),
        }))
    }
}

/// The middleware service created by [`RequestTelemetry`].
#[derive(Debug)]
pub struct RequestTelemetryMiddleware<S> {
    service: S,
    metrics: Option<Metrics>,
}

impl<S, B> Service<ServiceRequest> for RequestTelemetryMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let start = Instant::now();
        let request_id = req
            .headers()
            .get(REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(RequestId::parse)
            .unwrap_or_else(RequestId::generate);
        req.extensions_mut().insert(request_id.clone());
        let method = req.method().clone();
        let span = tracing::info_span!(
            "http_request",
            otel.name = %method,
            otel.kind = "server",
            http.request.method = %method,
            url.path = %req.path(),
            http.route = Empty,
            http.response.status_code = Empty,
            request_id = %request_id,
            trace_id = Empty,
            tenant = Empty,
            role = Empty,
            key_label = Empty,
        );

        let incoming = req
            .headers()
            .get(TRACEPARENT_HEADER)
            .and_then(|v| v.to_str().ok());
        let incoming_parent = incoming.and_then(|v| TraceParent::parse(v).ok());
        if incoming_parent.is_some() {
            if let Err(error) = set_parent_from(&span, incoming) {
                tracing::debug!(error = %error, "Incoming trace context not attached to the span");
            }
        } else if incoming.is_some() {
            tracing::debug!(parent: &span, "Ignoring an invalid traceparent header");
        }
        let outgoing = span_trace_parent(&span)
            .or_else(|| incoming_parent.map(|parent| parent.child()))
            .unwrap_or_else(TraceParent::new_root);
        span.record("trace_id", outgoing.trace_id_hex());

        let fut = self.service.call(req).instrument(span.clone());
        let metrics = self.metrics.clone();
        Box::pin(async move {
            // An `Err` from an inner middleware is counted and logged, then
            // passed on for actix to render (see `ProblemResponses`).
            let result = fut.await;
            let (status, route) = match &result {
                Ok(res) => (res.status(), route_label(res.request().match_pattern())),
                Err(error) => (error.as_response_error().status_code(), route_label(None)),
            };
            let elapsed = start.elapsed();
            span.record("http.route", route.as_str());
            span.record("http.response.status_code", status.as_u16());
            span.record("otel.name", format!("{method} {route}"));
            if let Some(metrics) = &metrics {
                metrics.record_request(
                    HttpLabels {
                        method: method_label(&method),
                        route: route.clone(),
                        status: status.as_u16(),
                    },
                    elapsed.as_secs_f64(),
                );
            }
            let latency_ms = elapsed.as_secs_f64() * 1000.0;
            {
                let _entered = span.enter();
                if status.is_server_error() {
                    tracing::warn!(status = status.as_u16(), latency_ms, "Request finished");
                } else if QUIET_ROUTES.contains(&route.as_str()) {
                    tracing::debug!(status = status.as_u16(), latency_ms, "Request finished");
                } else {
                    tracing::info!(status = status.as_u16(), latency_ms, "Request finished");
                }
            }
            let mut res = result?;
            let headers = res.headers_mut();
            if let Ok(value) = HeaderValue::from_str(request_id.as_str()) {
                headers.insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
            }
            if let Ok(value) = HeaderValue::from_str(&outgoing.to_string()) {
                headers.insert(HeaderName::from_static(TRACEPARENT_HEADER), value);
            }
            Ok(res)
        })
    }
}
