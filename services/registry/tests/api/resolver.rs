//! The public resolver: JSON and HTML by content negotiation, every GS1
//! spelling of the URI, escaping, recalls, and 404s that say why.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{BASE, TestApp, assert_problem, encode, lot_url, spawn_app};

async fn resolve_json(app: &TestApp, path: &str) -> Value {
    let response = app
        .client
        .get(app.url(path))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    assert_eq!(response.headers()["vary"], "Accept");
    assert_eq!(response.headers()["content-type"], "application/json");
    response.json().await.unwrap()
}

async fn resolve_html(app: &TestApp, path: &str, accept: Option<&str>) -> String {
    let mut request = app.client.get(app.url(path));
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    assert_eq!(
        response.headers()["content-type"],
        "text/html; charset=utf-8"
    );
    assert!(
        response.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
    response.text().await.unwrap()
}

#[tokio::test]
async fn items_resolve_as_json_and_escaped_html_and_show_recalls() {
    let app = spawn_app().await;
    let response = app
        .post(
            "/v1/products",
            Some(&app.keys.acme),
            &json!({"gtin": "9506000134352", "name": "<script>alert(1)</script> Oil", "brand": "A&B \"Best\""}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let product: Value = response.json().await.unwrap();
    let id = product["id"].as_str().unwrap();
    let gtin = "09506000134352";
    // A lot and a serial using the characters HTML must escape.
    let lot = "L<1>&'";
    let serial = "S\"<b>&'1";
    app.create_lot(&app.keys.acme, id, lot).await;
    app.serialize(
        &app.keys.acme,
        id,
        lot,
        json!({"serials": [serial, "PLAIN"]}),
    )
    .await;
    let link = format!("{BASE}/01/{gtin}/10/{}/21/{}", encode(lot), encode(serial));

    // JSON, by Accept and by ?format=json, in every spelling of the URI.
    let full = format!("/01/{gtin}/10/{}/21/{}", encode(lot), encode(serial));
    let short = format!("/01/{gtin}/21/{}", encode(serial));
    let gtin13 = format!("/01/9506000134352/21/{}", encode(serial));
    let json = resolve_json(&app, &full).await;
    assert_eq!(json["level"], "item");
    assert_eq!(json["digital_link"], link);
    assert_eq!(json["gtin"], gtin);
    assert_eq!(json["lot"], lot);
    assert_eq!(json["serial"], serial);
    assert_eq!(json["product"]["name"], "<script>alert(1)</script> Oil");
    assert_eq!(json["product"]["brand"], "A&B \"Best\"");
    assert_eq!(json["manufacturer"], "acme");
    assert_eq!(json["produced_at"], "2024-05-01");
    assert_eq!(json["expires_at"], "2030-05-01");
    assert_eq!(json["expired"], false);
    assert_eq!(json["status"], "active");
    assert!(json["recall"].is_null());
    assert_eq!(json["custody"], json!([]));
    for path in [&short, &gtin13, &format!("{full}?format=json")] {
        let response = app.get(path, None).await;
        let other: Value = if path.ends_with("format=json") {
            response.json().await.unwrap()
        } else {
            drop(response);
            resolve_json(&app, path).await
        };
        assert_eq!(other, json, "{path}");
    }
    // Lowercase percent-encoding is accepted too.
    let lower = full.replace("%3C", "%3c");
    assert_eq!(resolve_json(&app, &lower).await, json);

    // HTML for browsers (and for */* or no Accept), everything escaped.
    for accept in [
        Some("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
        Some("*/*"),
        None,
    ] {
        let html = resolve_html(&app, &full, accept).await;
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; Oil"));
        assert!(html.contains("A&amp;B &quot;Best&quot;"));
        assert!(html.contains("S&quot;&lt;b&gt;&amp;&#39;1"));
        assert!(html.contains("L&lt;1&gt;&amp;&#39;"));
        assert!(html.contains("Not recalled"));
    }
    // ?format=html wins over Accept.
    let response = app
        .client
        .get(app.url(&format!("{full}?format=html")))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );

    // Lot and product levels.
    let lot_json = resolve_json(&app, &format!("/01/{gtin}/10/{}", encode(lot))).await;
    assert_eq!(lot_json["level"], "lot");
    assert_eq!(lot_json["status"], "active");
    assert!(lot_json["custody"].is_null());
    let product_json = resolve_json(&app, &format!("/01/{gtin}")).await;
    assert_eq!(product_json["level"], "product");
    assert_eq!(product_json["digital_link"], format!("{BASE}/01/{gtin}"));

    // A recall shows at once, on every item of the lot.
    let response = app
        .post(
            &lot_url(id, lot, "/recall"),
            Some(&app.keys.acme),
            &json!({"reason": "Undeclared <allergen> & nuts"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let recalled = resolve_json(&app, &format!("/01/{gtin}/21/PLAIN")).await;
    assert_eq!(recalled["status"], "recalled");
    assert_eq!(recalled["recall"]["reason"], "Undeclared <allergen> & nuts");
    let html = resolve_html(&app, &full, None).await;
    assert!(html.contains("<strong>Recalled</strong>"), "{html}");
    assert!(html.contains("Undeclared &lt;allergen&gt; &amp; nuts"));
}

#[tokio::test]
async fn unknown_and_mismatched_items_are_404_and_bad_uris_400() {
    let app = spawn_app().await;
    let (product, _) = app.product_with_items(&["S1"]).await;
    let id = product["id"].as_str().unwrap();
    let gtin = product["gtin"].as_str().unwrap();
    app.create_lot(&app.keys.acme, id, "L2").await;

    let problem = assert_problem(app.get(&format!("/01/{gtin}/21/NOPE"), None).await, 404).await;
    assert_eq!(
        problem["detail"],
        format!("no item with gtin {gtin} and serial NOPE is registered")
    );
    // S1 is in L1, not in L2 (which exists) nor in L9 (which does not).
    for lot in ["L2", "L9"] {
        let problem = assert_problem(
            app.get(&format!("/01/{gtin}/10/{lot}/21/S1"), None).await,
            404,
        )
        .await;
        assert_eq!(
            problem["detail"],
            format!("serial S1 of gtin {gtin} is not in lot {lot}")
        );
        assert_eq!(
            problem["type"],
            "https://tracechain.dev/problems/item-not-in-lot"
        );
    }
    assert_problem(app.get("/01/09506000134352", None).await, 404).await;
    assert_problem(app.get(&format!("/01/{gtin}/10/NOPE"), None).await, 404).await;

    // Malformed identifiers: 400 naming what is wrong, never a 500.
    let bad_check = format!("{}{}", &gtin[..13], (gtin.as_bytes()[13] - b'0' + 1) % 10);
    for path in [
        format!("/01/{bad_check}/21/S1"),
        "/01/123/21/S1".to_owned(),
        format!("/01/{gtin}/21/A%2"),
        format!("/01/{gtin}/21/%FF"),
        format!("/01/{gtin}/21/{}", "X".repeat(21)),
        format!("/01/{gtin}/10/A%20B/21/S1"),
        format!("/01/{gtin}/21/S1?format=xml"),
    ] {
        let response = app.get(&path, None).await;
        assert_eq!(response.status(), 400, "{path}");
        assert_problem(response, 400).await;
    }
    let problem = assert_problem(app.get(&format!("/01/{bad_check}/21/S1"), None).await, 400).await;
    assert!(
        problem["detail"].as_str().unwrap().contains("check digit"),
        "{problem}"
    );
    // Paths that are not Digital Links are plain 404s.
    for path in ["/01", "/01/", "/02/123", "/01/x/99/y"] {
        let status = app.get(path, None).await.status().as_u16();
        assert!(status == 404 || status == 400, "{path}: {status}");
    }
}
