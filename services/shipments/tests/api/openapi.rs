//! The checked-in OpenAPI document is the one the code generates; the
//! server serves it and renders it at `/docs`.

use std::path::Path;

use serde_json::Value;

use crate::helpers::spawn_app;

#[test]
fn openapi_file_is_current() {
    tracechain_testkit::assert_checked_in(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../openapi/shipments.json"),
        &tracechain_shipments::openapi::openapi_json(),
        "UPDATE_OPENAPI",
        "cargo nextest run -p tracechain-shipments openapi_file_is_current",
    );
}

#[test]
fn every_operation_documents_success_problems_and_security() {
    let doc: Value = serde_json::from_str(&tracechain_shipments::openapi::openapi_json()).unwrap();
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            operations += 1;
            let responses = op["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{method} {path}"
            );
            assert!(
                responses.keys().any(|s| s.starts_with('4')),
                "{method} {path} documents its problems"
            );
            // Scans (signed by devices) and the label resolver are public.
            let public = path.starts_with("/v1/scans") || path.starts_with("/00/");
            assert_eq!(
                op.get("security").is_none(),
                public,
                "{method} {path} security"
            );
        }
    }
    assert_eq!(operations, 12);
}

#[tokio::test]
async fn the_service_serves_its_document_and_docs_page() {
    let app = spawn_app().await;
    let served: Value = app.get("/openapi.json", None).await.json().await.unwrap();
    let generated: Value =
        serde_json::from_str(&tracechain_shipments::openapi::openapi_json()).unwrap();
    assert_eq!(served, generated);
    let docs = app.get("/docs", None).await;
    assert_eq!(docs.status(), 200);
}

#[tokio::test]
async fn a_wrong_method_is_405_naming_the_allowed_ones() {
    let app = spawn_app().await;
    for (method, path, allow) in [
        ("PUT", "/v1/shipments", "GET, POST"),
        ("DELETE", "/v1/scans", "POST"),
        (
            "TRACE",
            "/v1/shipments/01a20bf8-2ae0-7360-8bfb-e5980515ec47/label.png",
            "GET",
        ),
        ("POST", "/00/006141410000000012", "GET"),
        ("POST", "/scan", "GET"),
    ] {
        let response = app
            .client
            .request(method.parse().unwrap(), app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["allow"], allow, "{method} {path}");
        tracechain_testkit::assert_problem(response, 405).await;
    }
}
