//! The checked-in OpenAPI document is the one the code generates; the
//! server serves it and renders it at `/docs`.

use std::path::Path;

use serde_json::Value;

use crate::helpers::spawn;

#[test]
fn openapi_file_is_current() {
    tracechain_testkit::assert_checked_in(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../openapi/registry.json"),
        &tracechain_registry::openapi::openapi_json(),
        "UPDATE_OPENAPI",
        "cargo nextest run -p tracechain-registry openapi_file_is_current",
    );
}

#[test]
fn every_operation_is_documented_with_problems_and_security() {
    let doc: Value = serde_json::from_str(&tracechain_registry::openapi::openapi_json()).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    let mut operations = 0;
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            operations += 1;
            let responses = op["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{method} {path} has a success response"
            );
            assert!(
                responses.keys().any(|s| s.starts_with('4')),
                "{method} {path} documents its problems"
            );
            let public = path.starts_with("/01/");
            let security = op["security"].as_array().unwrap();
            if public {
                assert_eq!(
                    security,
                    &vec![serde_json::json!({})],
                    "{method} {path} is public"
                );
            } else {
                assert!(
                    security[0].get("bearer").is_some(),
                    "{method} {path} needs a key"
                );
                assert!(responses.contains_key("401") && responses.contains_key("403"));
            }
        }
    }
    assert_eq!(operations, 22, "every route is in the document");
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    assert!(doc["components"]["schemas"]["Problem"].is_object());
}

#[tokio::test]
async fn the_server_serves_the_document_and_the_docs() {
    let app = spawn(crate::helpers::Infra::Embedded).await;
    let served: Value = app.get("/openapi.json", None).await.json().await.unwrap();
    let generated: Value =
        serde_json::from_str(&tracechain_registry::openapi::openapi_json()).unwrap();
    assert_eq!(served, generated);
    let docs = app.get("/docs", None).await;
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.unwrap().contains("api-reference"));
}
