//! The one-line set-up every service's `App` starts from: problem+json
//! defaults, health/readiness/metrics routes, the serving gate and both
//! middlewares.

use actix_web::App;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::web;

use crate::defaults::{Limits, configure_defaults};
use crate::gate::ServingGate;
use crate::health::{self, Readiness};
use crate::metrics::Metrics;
use crate::problem_responses::ProblemResponses;
use crate::request_telemetry::RequestTelemetry;

/// What [`app`] shares across workers; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct HttpDefaults {
    /// Request limits.
    pub limits: Limits,
    /// The metrics registry served at `/metrics`.
    pub metrics: Metrics,
    /// The checks run by `/readyz`.
    pub readiness: Readiness,
    /// Closes the data routes (503) while the service's state is incomplete.
    pub gate: ServingGate,
}

/// A new `App` with: `JsonConfig`/`PathConfig`/`QueryConfig` answering
/// problem+json, a 404 default service, `/healthz`, `/readyz`, `/metrics`,
/// the [`ProblemResponses`] middleware and, outermost, [`RequestTelemetry`].
/// Add the service's own app data and routes to it.
pub fn app(
    defaults: &HttpDefaults,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody + use<>>,
        Error = actix_web::Error,
        InitError = (),
    > + use<>,
> {
    let limits = defaults.limits;
    let gate = defaults.gate.clone();
    App::new()
        .app_data(web::Data::new(defaults.metrics.clone()))
        .app_data(web::Data::new(defaults.readiness.clone()))
        .configure(|cfg| configure_defaults(cfg, limits))
        .configure(health::configure)
        .wrap_fn(move |request, service| {
            use actix_web::ResponseError as _;
            use actix_web::dev::Service as _;
            use futures::future::{Either, FutureExt as _, ready};
            match gate.refusal(request.path()) {
                Some(problem) => Either::Left(ready(Ok(request
                    .into_response(problem.error_response())
                    .map_into_right_body()))),
                None => Either::Right(
                    service
                        .call(request)
                        .map(|result| result.map(ServiceResponse::map_into_left_body)),
                ),
            }
        })
        .wrap(ProblemResponses)
        .wrap(RequestTelemetry::new(defaults.metrics.clone()))
}
