//! Scenario 6: one scan is followed across the platform by its trace. The
//! phone's request carries a W3C `traceparent`; shipments and the ledger,
//! as separate processes, export their spans over OTLP/HTTP to a receiver
//! inside this test. The scan's trace id must appear in shipments' span for
//! the request AND in the ledger's `ledger.anchor` span for the event —
//! carried by the Kafka record's `traceparent` header from one to the other.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use prost::Message as _;
use tracechain_e2e::client::{self, Api, Phone};
use tracechain_e2e::{Deployment, Options};

/// A span as the receiver recorded it.
#[derive(Debug, Clone)]
struct Received {
    service: String,
    name: String,
    trace_id: String,
    attributes: Vec<(String, String)>,
}

fn service_name(resource: Option<&opentelemetry_proto::tonic::resource::v1::Resource>) -> String {
    resource
        .into_iter()
        .flat_map(|r| &r.attributes)
        .find(|kv| kv.key == "service.name")
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
        .map(|v| match v {
            AnyValue::StringValue(s) => s.clone(),
            other => format!("{other:?}"),
        })
        .unwrap_or_default()
}

async fn export(body: web::Bytes, spans: web::Data<Mutex<Vec<Received>>>) -> HttpResponse {
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        return HttpResponse::BadRequest().finish();
    };
    let mut spans = spans.lock().unwrap();
    for resource_spans in request.resource_spans {
        let service = service_name(resource_spans.resource.as_ref());
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                spans.push(Received {
                    service: service.clone(),
                    name: span.name.clone(),
                    trace_id: hex::encode(&span.trace_id),
                    attributes: span
                        .attributes
                        .iter()
                        .map(|kv| {
                            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                                Some(AnyValue::StringValue(s)) => s.clone(),
                                Some(AnyValue::IntValue(i)) => i.to_string(),
                                other => format!("{other:?}"),
                            };
                            (kv.key.clone(), value)
                        })
                        .collect(),
                });
            }
        }
    }
    // An empty ExportTraceServiceResponse: full success.
    HttpResponse::Ok()
        .content_type("application/x-protobuf")
        .finish()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_scans_trace_id_is_in_the_spans_of_shipments_and_the_ledger() {
    let spans = web::Data::new(Mutex::new(Vec::<Received>::new()));
    let receiver = {
        let spans = spans.clone();
        HttpServer::new(move || {
            App::new()
                .app_data(spans.clone())
                .app_data(web::PayloadConfig::new(64 << 20))
                .route("/v1/traces", web::post().to(export))
        })
        .workers(1)
        .bind(("127.0.0.1", 0))
        .unwrap()
    };
    let port = receiver.addrs()[0].port();
    let server = receiver.run();
    let server_handle = server.handle();
    tokio::spawn(server);

    let mut options = Options::shared();
    // Spans are at INFO; export every 200 ms rather than every 5 s.
    options.log_filter = "info".to_owned();
    options.envs = vec![
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(),
            format!("http://127.0.0.1:{port}"),
        ),
        (
            "OTEL_EXPORTER_OTLP_PROTOCOL".to_owned(),
            "http/protobuf".to_owned(),
        ),
        ("OTEL_BSP_SCHEDULE_DELAY".to_owned(), "200".to_owned()),
    ];
    let mut system = Deployment::start(options);
    let api = Api::new();
    let (urls, keys) = (system.urls.clone(), system.keys.clone());
    let items = client::seed_items(&api, &urls.registry, &keys.acme, 1).await;
    let shipment = client::ship(&api, &urls.shipments, &keys.acme, "fastfreight", &items).await;
    let phone = Phone::register(&api, &urls.shipments, "fastfreight", &keys.fastfreight).await;

    // The phone's request starts the trace.
    let trace_id = format!("{:032x}", uuid::Uuid::now_v7().as_u128());
    let traceparent = format!("00-{trace_id}-00f067aa0ba902b7-01");
    let scan = phone.scan(shipment["label_uri"].as_str().unwrap(), "pickup");
    let (status, accepted) = api
        .send(
            api.client
                .post(format!("{}/v1/scans", urls.shipments))
                .header("traceparent", &traceparent)
                .json(&scan),
        )
        .await
        .expect("an answer");
    assert_eq!(status, 202, "{accepted}");
    let event_id = accepted["event_id"].as_str().unwrap().to_owned();

    // Wait for both services' spans of this trace.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (in_shipments, in_ledger) = loop {
        let seen: Vec<Received> = spans
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.trace_id == trace_id)
            .cloned()
            .collect();
        let in_shipments: Vec<_> = seen
            .iter()
            .filter(|s| s.service == "shipments")
            .cloned()
            .collect();
        let in_ledger: Vec<_> = seen
            .iter()
            .filter(|s| s.service == "ledger")
            .cloned()
            .collect();
        if !in_shipments.is_empty() && !in_ledger.is_empty() {
            break (in_shipments, in_ledger);
        }
        assert!(
            Instant::now() < deadline,
            "within 60 s, spans of trace {trace_id}: shipments {in_shipments:?}, ledger {in_ledger:?}; services seen: {:?}",
            spans
                .lock()
                .unwrap()
                .iter()
                .map(|s| s.service.clone())
                .collect::<std::collections::BTreeSet<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        in_shipments.iter().any(|s| s
            .attributes
            .iter()
            .any(|(k, v)| k.contains("route") && v.contains("/v1/scans"))),
        "shipments' request span names its route: {in_shipments:?}"
    );
    let anchor = in_ledger
        .iter()
        .find(|s| s.name == "ledger.anchor")
        .unwrap_or_else(|| panic!("a ledger.anchor span: {in_ledger:?}"));
    let attribute = |name: &str| {
        anchor
            .attributes
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        attribute("event_id").as_deref(),
        Some(event_id.as_str()),
        "{anchor:?}"
    );
    // The span names the block that anchors the event, and the ledger agrees.
    let height: u64 = attribute("block_height")
        .and_then(|h| h.parse().ok())
        .unwrap_or_else(|| panic!("block_height on {anchor:?}"));
    let anchored = client::anchored_events(&api, &urls.ledger, &keys.auditor).await;
    assert_eq!(anchored[&event_id].heights, vec![height]);

    system.stop();
    server_handle.stop(true).await;
}
