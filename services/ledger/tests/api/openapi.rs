//! The checked-in OpenAPI document is the one the code generates; the
//! server serves it and renders it at `/docs`.

use std::path::Path;

use serde_json::Value;

use crate::common::{Ledger, Shared, fast_blocks};

#[test]
fn openapi_file_is_current() {
    tracechain_testkit::assert_checked_in(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../openapi/ledger.json"),
        &tracechain_ledger::openapi::openapi_json(),
        "UPDATE_OPENAPI",
        "cargo nextest run -p tracechain-ledger openapi_file_is_current",
    );
}

#[test]
fn every_operation_is_documented_with_problems_and_security() {
    let doc: Value = serde_json::from_str(&tracechain_ledger::openapi::openapi_json()).unwrap();
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            operations += 1;
            let responses = op["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{method} {path} has a success response"
            );
            let public = ["/v1/keys", "/v1/checkpoint"].contains(&path.as_str());
            if public {
                assert!(op.get("security").is_none(), "{method} {path} is public");
            } else {
                assert!(
                    op["security"][0].get("bearer").is_some(),
                    "{method} {path} needs a key"
                );
                assert!(
                    responses.contains_key("401"),
                    "{method} {path} documents 401"
                );
            }
        }
    }
    assert_eq!(operations, 9, "every route is in the document");
    assert!(doc["components"]["schemas"]["Problem"].is_object());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_server_serves_the_document_and_the_docs() {
    let shared = Shared::new();
    let ledger = Ledger::spawn(shared.settings("a", fast_blocks())).await;
    let served: Value = ledger
        .get(None, "/openapi.json")
        .await
        .json()
        .await
        .unwrap();
    let generated: Value =
        serde_json::from_str(&tracechain_ledger::openapi::openapi_json()).unwrap();
    assert_eq!(served, generated);
    let docs = ledger.get(None, "/docs").await;
    assert_eq!(docs.status(), 200);
    ledger.stop().await;
}
