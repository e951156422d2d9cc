//! Printable labels decode, with a real QR decoder, to the label URI; the
//! public resolver a scanned label opens.

use std::collections::BTreeSet;

use serde_json::Value;
use tracechain_testkit::{assert_problem, zbar};

use crate::helpers::spawn_app;

#[tokio::test]
async fn the_label_png_and_svg_decode_to_the_label_uri() {
    let app = spawn_app().await;
    let (shipment, label) = app.shipment().await;
    let id = shipment["id"].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();

    let response = app
        .get(
            &format!("/v1/shipments/{id}/label.png"),
            Some(&app.keys.fastfreight),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/png");
    let png = dir.path().join("label.png");
    std::fs::write(&png, response.bytes().await.unwrap()).unwrap();
    assert_eq!(zbar(&png), BTreeSet::from([label.clone()]));

    let response = app
        .get(
            &format!("/v1/shipments/{id}/label.svg"),
            Some(&app.keys.acme),
        )
        .await;
    assert_eq!(response.status(), 200);
    let svg = response.text().await.unwrap();
    let sscc = shipment["sscc"].as_str().unwrap();
    let printed = format!("(00) {} {} {}", &sscc[..1], &sscc[1..17], &sscc[17..]);
    assert!(svg.contains(&printed), "the SSCC is printed: {printed}");
    let svg_path = dir.path().join("label.svg");
    std::fs::write(&svg_path, &svg).unwrap();
    let rendered = dir.path().join("label-svg.png");
    let status = std::process::Command::new("rsvg-convert")
        .arg("--background-color=white")
        .arg("-o")
        .arg(&rendered)
        .arg(&svg_path)
        .status()
        .expect("rsvg-convert runs (Debian package librsvg2-bin)");
    assert!(status.success());
    assert_eq!(zbar(&rendered), BTreeSet::from([label]));

    // Only who may see the shipment gets its label.
    assert_problem(
        app.get(
            &format!("/v1/shipments/{id}/label.png"),
            Some(&app.keys.globex),
        )
        .await,
        404,
    )
    .await;
    assert_problem(
        app.get(&format!("/v1/shipments/{id}/label.svg"), None)
            .await,
        401,
    )
    .await;
}

#[tokio::test]
async fn a_scanned_label_resolves_publicly_with_more_for_those_who_may_see() {
    let app = spawn_app().await;
    let (shipment, label) = app.shipment().await;
    let path = label.strip_prefix("https://id.example.com").unwrap();

    let public: Value = app
        .client
        .get(app.url(path))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(public["sscc"], shipment["sscc"]);
    assert_eq!(public["state"], "created");
    assert_eq!(public["scan_page"], "/scan");
    assert!(
        public["shipment"].is_null(),
        "nothing private without a key"
    );

    let own: Value = app
        .client
        .get(app.url(&format!("{path}?format=json")))
        .bearer_auth(&app.keys.acme)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(own["shipment"]["id"], shipment["id"]);
    let other: Value = app
        .client
        .get(app.url(&format!("{path}?format=json")))
        .bearer_auth(&app.keys.globex)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(other["shipment"].is_null());
    // A wrong key is refused, not silently treated as public.
    let wrong = app
        .client
        .get(app.url(path))
        .bearer_auth("tc_wrong")
        .send()
        .await
        .unwrap();
    assert_problem(wrong, 401).await;

    let html = app
        .client
        .get(app.url(path))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(html.status(), 200);
    assert!(
        html.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
    let page = html.text().await.unwrap();
    assert!(page.contains("created") && page.contains("/scan"));

    assert_problem(app.get("/00/123", None).await, 400).await;
    assert_problem(app.get("/00/006141419999999994", None).await, 404).await;
    assert_problem(app.get(&format!("{path}?format=xml"), None).await, 400).await;
}
