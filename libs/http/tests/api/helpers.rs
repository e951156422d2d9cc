//! `spawn_app()`: a tiny service built like a real one (`app()` + routes +
//! `Server`), started on port 0 with its own shutdown trigger.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use actix_web::http::{Method, StatusCode};
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracechain_domain::{Role, TenantId};
use tracechain_http::{
    ApiError, ApiKeyTable, HttpDefaults, HttpSettings, Limits, Metrics, Principal, Problem,
    Readiness, Server, ServerError, app, check_fn, generate_api_key, impl_response_error,
    method_not_allowed,
};
use tracechain_telemetry::{LogFormat, TelemetryConfig, TelemetryGuard};

/// The JSON limit of the test app: small, so 413 is cheap to provoke.
pub(crate) const JSON_LIMIT: usize = 1024;

/// Installs telemetry (with the OpenTelemetry layer, no exporter) once.
fn telemetry() {
    static GUARD: OnceLock<Option<TelemetryGuard>> = OnceLock::new();
    GUARD.get_or_init(|| {
        let mut config = TelemetryConfig::new("http-tests");
        config.log_format = LogFormat::Pretty;
        config.filter = "info".to_owned();
        config.test_writer = true;
        tracechain_telemetry::init(&config).ok()
    });
}

/// A running test app.
pub(crate) struct TestApp {
    pub(crate) address: String,
    pub(crate) client: reqwest::Client,
    pub(crate) manufacturer_key: String,
    pub(crate) carrier_key: String,
    pub(crate) ready: Arc<AtomicBool>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<Result<(), ServerError>>>,
}

impl TestApp {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub(crate) async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// Fires the shutdown future and waits for the server to stop.
    pub(crate) async fn shutdown(&mut self) -> Result<(), ServerError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.server.take() {
            Some(handle) => tokio::time::timeout(Duration::from_secs(10), handle)
                .await
                .expect("server stops within 10 s")
                .expect("server task did not panic"),
            None => Ok(()),
        }
    }

    pub(crate) fn trigger_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    pub(crate) async fn wait_stopped(&mut self) -> Result<(), ServerError> {
        self.shutdown().await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct NewItem {
    name: String,
    quantity: u32,
}

#[derive(Debug, Deserialize)]
struct Search {
    limit: u32,
}

/// The test service's one error type, mapped to HTTP in one place.
#[derive(Debug, thiserror::Error)]
enum ItemError {
    #[error("item {0} not found")]
    NotFound(u32),
    #[error("store failed: secret connection string postgres://admin:hunter2@db")]
    Store,
}

impl ApiError for ItemError {
    fn problem(&self) -> Problem {
        match self {
            Self::NotFound(_) => {
                Problem::typed(StatusCode::NOT_FOUND, "item-not-found", "Item not found")
                    .with_detail(self.to_string())
            }
            Self::Store => Problem::internal().with_detail(self.to_string()),
        }
    }
}

impl_response_error!(ItemError);

async fn create_item(item: web::Json<NewItem>) -> HttpResponse {
    HttpResponse::Created().json(item.into_inner())
}

async fn get_item(id: web::Path<u32>) -> Result<HttpResponse, ItemError> {
    match id.into_inner() {
        0 => Err(ItemError::Store),
        404 => Err(ItemError::NotFound(404)),
        id => Ok(HttpResponse::Ok().json(serde_json::json!({ "id": id }))),
    }
}

async fn search(query: web::Query<Search>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "limit": query.limit }))
}

async fn whoami(principal: Principal) -> HttpResponse {
    HttpResponse::Ok().json(principal)
}

async fn register_product(
    principal: Principal,
) -> Result<HttpResponse, tracechain_http::AuthError> {
    principal.require_role(&[Role::Manufacturer, Role::Admin])?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "registered_by": principal.label })))
}

async fn slow() -> HttpResponse {
    tokio::time::sleep(Duration::from_millis(800)).await;
    HttpResponse::Ok().body("done")
}

async fn plain() -> HttpResponse {
    HttpResponse::Ok().body("plain")
}

/// Starts the test app on 127.0.0.1:0.
pub(crate) async fn spawn_app() -> TestApp {
    telemetry();
    let tenant = TenantId::parse("acme").unwrap();
    let (manufacturer_key, manufacturer) =
        generate_api_key(Role::Manufacturer, tenant.clone(), "acme-manufacturer").unwrap();
    let (carrier_key, carrier) = generate_api_key(Role::Carrier, tenant, "acme-carrier").unwrap();
    let keys = web::Data::new(ApiKeyTable::from_entries(vec![manufacturer, carrier]).unwrap());

    let ready = Arc::new(AtomicBool::new(true));
    let flag = ready.clone();
    let readiness = Readiness::new()
        .with_check(check_fn("store", || async { Ok(()) }))
        .with_check(check_fn("broker", move || {
            let up = flag.load(Ordering::SeqCst);
            async move {
                if up {
                    Ok(())
                } else {
                    Err("connection refused to broker:9092".into())
                }
            }
        }));
    let settings = HttpSettings {
        host: "127.0.0.1".to_owned(),
        port: 0,
        json_limit_bytes: JSON_LIMIT,
        shutdown_grace_secs: 5,
        workers: Some(1),
    };
    let defaults = HttpDefaults {
        limits: Limits::from(&settings),
        metrics: Metrics::new(),
        readiness,
        gate: Default::default(),
    };
    let listener = tracechain_http::bind(&settings).unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let server = Server::start(
        listener,
        &settings,
        move || {
            app(&defaults)
                .app_data(keys.clone())
                .route("/items", web::post().to(create_item))
                .route("/items/{id}", web::get().to(get_item))
                .route("/search", web::get().to(search))
                .route("/whoami", web::get().to(whoami))
                .route("/products", web::post().to(register_product))
                .route("/slow", web::get().to(slow))
                .service(web::resource("/plain").route(web::get().to(plain)))
                .service(
                    web::resource("/allow")
                        .route(web::get().to(plain))
                        .route(web::put().to(plain))
                        .default_service(method_not_allowed(&[Method::GET, Method::PUT])),
                )
        },
        async move {
            let _ = rx.await;
        },
    )
    .unwrap();
    let address = format!("http://127.0.0.1:{}", server.port());
    let handle = tokio::spawn(server.run_until_stopped());
    TestApp {
        address,
        client: reqwest::Client::new(),
        manufacturer_key,
        carrier_key,
        ready,
        shutdown: Some(tx),
        server: Some(handle),
    }
}

/// Asserts an RFC 9457 problem+json response with `status`; returns its body.
pub(crate) async fn assert_problem(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status().as_u16(), status, "status");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let request_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body: Value = response.json().await.expect("problem body is JSON");
    let object = body.as_object().expect("problem is a JSON object");
    assert!(object["type"].is_string(), "type is a string: {body}");
    assert!(object["title"].is_string(), "title is a string: {body}");
    assert_eq!(object["status"], status, "status member: {body}");
    if let Some(detail) = object.get("detail") {
        assert!(detail.is_string());
    }
    assert_eq!(
        object.get("request_id").and_then(Value::as_str),
        request_id.as_deref(),
        "request_id matches X-Request-Id: {body}"
    );
    body
}
