//! [`start_service`]: a service's HTTP server in one call — the shared
//! defaults ([`app`]), the service's app data and extra routes, its API
//! routes registered through `utoipa-actix-web` (so each one is in the
//! document), and the document at `/openapi.json` with its page at `/docs`;
//! every 405 says which methods the path allows ([`crate::allow`]).

use std::future::Future;

use actix_web::web;
use utoipa_actix_web::AppExt;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::allow::AllowFromDocument;
use crate::app::{HttpDefaults, app};
use crate::openapi::ApiDocs;
use crate::server::{HttpSettings, Server, ServerError, bind};

/// Binds `settings`' address (port 0 picks one) and starts serving, per
/// worker: [`app`]`(&defaults)`, then `configure` (the service's app data
/// and undocumented routes, such as a web page), then `routes` (its
/// documented API), then `docs`. Stops gracefully when `shutdown`
/// resolves; returns once the port is bound.
pub fn start_service<C>(
    settings: &HttpSettings,
    defaults: HttpDefaults,
    docs: ApiDocs,
    routes: fn(&mut ServiceConfig<'_>),
    configure: C,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Server, ServerError>
where
    C: Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
{
    let listener = bind(settings)?;
    let allow = AllowFromDocument::new(docs.document());
    Server::start(
        listener,
        settings,
        move || {
            app(&defaults)
                .configure(configure.clone())
                .into_utoipa_app()
                .configure(routes)
                .into_app()
                .configure(|cfg| docs.configure(cfg))
                .wrap(allow.clone())
        },
        shutdown,
    )
}
