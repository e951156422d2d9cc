//! QR images decoded by a real scanner (`zbarimg`) equal the item's Digital
//! Link URI exactly; out-of-bounds options are 400 naming the parameter.

use std::path::Path;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, assert_problem, encode, lot_url, spawn_app, zbar};

async fn fetch(app: &TestApp, path: &str, key: Option<&str>, content_type: &str) -> Vec<u8> {
    let response = app.get(path, key).await;
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    assert_eq!(response.headers()["content-type"], content_type, "{path}");
    response.bytes().await.unwrap().to_vec()
}

fn png_size(png: &[u8]) -> (u32, u32) {
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    (width, height)
}

fn decode_png(dir: &Path, name: &str, png: &[u8]) -> Vec<String> {
    let path = dir.join(name);
    std::fs::write(&path, png).unwrap();
    zbar(&path).into_iter().collect()
}

fn decode_svg(dir: &Path, name: &str, svg: &[u8]) -> Vec<String> {
    let svg_path = dir.join(format!("{name}.svg"));
    let png_path = dir.join(format!("{name}.png"));
    std::fs::write(&svg_path, svg).unwrap();
    let status = std::process::Command::new("rsvg-convert")
        .arg("-o")
        .arg(&png_path)
        .arg(&svg_path)
        .status()
        .expect("rsvg-convert runs (Debian package librsvg2-bin; .ci/run installs it)");
    assert!(status.success());
    zbar(&png_path).into_iter().collect()
}

#[tokio::test]
async fn qr_codes_decode_to_the_items_digital_link() {
    let app = spawn_app().await;
    let serial = "SN/42+x";
    let (product, created) = app.product_with_items(&[serial, "PLAIN"]).await;
    let id = product["id"].as_str().unwrap();
    let gtin = product["gtin"].as_str().unwrap();
    let link = created["items"][0]["digital_link"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        link,
        format!("https://id.example.com/01/{gtin}/10/L1/21/SN%2F42%2Bx")
    );
    let dir = tempfile::tempdir().unwrap();

    // Public, under the resolver path: two error-correction levels and sizes.
    let base = format!("/01/{gtin}/10/L1/21/{}", encode(serial));
    let small = fetch(
        &app,
        &format!("{base}/qr.png?size=256&ecc=L"),
        None,
        "image/png",
    )
    .await;
    assert_eq!(png_size(&small), (256, 256));
    assert_eq!(
        decode_png(dir.path(), "small.png", &small),
        std::slice::from_ref(&link)
    );
    let large = fetch(
        &app,
        &format!("{base}/qr.png?size=600&ecc=H&margin=8"),
        None,
        "image/png",
    )
    .await;
    assert_eq!(png_size(&large), (600, 600));
    assert_eq!(
        decode_png(dir.path(), "large.png", &large),
        std::slice::from_ref(&link)
    );
    // Higher correction means more modules: the images differ.
    assert_ne!(small, large);

    // The short form encodes the full URI (with the lot) too.
    let short = fetch(
        &app,
        &format!("/01/{gtin}/21/{}/qr.png", encode(serial)),
        None,
        "image/png",
    )
    .await;
    assert_eq!(png_size(&short), (512, 512), "default size");
    assert_eq!(
        decode_png(dir.path(), "short.png", &short),
        std::slice::from_ref(&link)
    );

    // SVG: well-formed, then rendered and scanned.
    let svg = fetch(
        &app,
        &format!("{base}/qr.svg?size=400&ecc=Q"),
        None,
        "image/svg+xml",
    )
    .await;
    let text = String::from_utf8(svg.clone()).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    assert_eq!(doc.root_element().attribute("width"), Some("400"));
    assert_eq!(
        decode_svg(dir.path(), "code", &svg),
        std::slice::from_ref(&link)
    );

    // For API clients, with a key.
    let api = lot_url(
        id,
        "L1",
        &format!("/items/{}/qr.png?size=300&ecc=M", encode(serial)),
    );
    let png = fetch(&app, &api, Some(&app.keys.acme), "image/png").await;
    assert_eq!(
        decode_png(dir.path(), "api.png", &png),
        std::slice::from_ref(&link)
    );
    let api_svg = lot_url(id, "L1", "/items/PLAIN/qr.svg");
    let svg = fetch(&app, &api_svg, Some(&app.keys.auditor), "image/svg+xml").await;
    let plain: Value = created["items"][1].clone();
    assert_eq!(
        decode_svg(dir.path(), "api", &svg),
        [plain["digital_link"].as_str().unwrap().to_owned()]
    );
}

#[tokio::test]
async fn qr_options_are_bounded_and_unknown_items_404() {
    let app = spawn_app().await;
    let (product, _) = app.product_with_items(&["S1"]).await;
    let gtin = product["gtin"].as_str().unwrap();
    let base = format!("/01/{gtin}/21/S1/qr.png");
    for (query, parameter) in [
        ("size=63", "size"),
        ("size=2049", "size"),
        ("size=big", "size"),
        ("margin=17", "margin"),
        ("margin=-1", "margin"),
        ("ecc=X", "ecc"),
        ("size=64&margin=16&ecc=H", "size"),
    ] {
        let problem = assert_problem(app.get(&format!("{base}?{query}"), None).await, 400).await;
        assert_eq!(
            problem["errors"][0]["field"], parameter,
            "{query}: {problem}"
        );
    }
    for ok in ["size=64&margin=0", "size=2048&margin=16&ecc=h"] {
        assert_eq!(
            app.get(&format!("{base}?{ok}"), None).await.status(),
            200,
            "{ok}"
        );
    }
    assert_problem(
        app.get(&format!("/01/{gtin}/21/NOPE/qr.png"), None).await,
        404,
    )
    .await;
    assert_problem(
        app.get(&format!("/01/{gtin}/10/L2/21/S1/qr.svg"), None)
            .await,
        404,
    )
    .await;
}
