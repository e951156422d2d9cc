//! Label sheets: the SVG parses and holds the labels of its page; the PDF
//! has one page per sheet, and page 1 rendered by poppler scans back to
//! the lot's Digital Link URIs.

use std::collections::BTreeSet;
use std::process::Command;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_problem, lot_url, scan_sheet, spawn_app};

#[tokio::test]
async fn label_sheets_render_and_scan() {
    let app = spawn_app().await;
    let product = app.register(&app.keys.acme, "Honey 250 g <raw>").await;
    let id = product["id"].as_str().unwrap();
    app.create_lot(&app.keys.acme, id, "H-01").await;
    // 40 items: sheets of 15, 15, 10.
    let serials: Vec<String> = (0..40).map(|n| format!("HN{n:04}")).collect();
    let created = app
        .serialize(&app.keys.acme, id, "H-01", json!({ "serials": serials }))
        .await;
    let links: Vec<String> = created["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["digital_link"].as_str().unwrap().to_owned())
        .collect();

    // SVG, sheet 2: labels 16..30 in serial order, well-formed, escaped.
    let response = app
        .get(
            &lot_url(id, "H-01", "/labels.svg?page=2"),
            Some(&app.keys.acme),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "image/svg+xml");
    assert_eq!(response.headers()["x-total-sheets"], "3");
    assert!(
        response.headers()["link"]
            .to_str()
            .unwrap()
            .ends_with("/labels.svg?page=3>; rel=\"next\"")
    );
    let svg = response.text().await.unwrap();
    let doc = roxmltree::Document::parse(&svg).expect("the sheet is well-formed XML");
    let labels: Vec<_> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("label"))
        .collect();
    assert_eq!(labels.len(), 15);
    let uris: Vec<&str> = labels
        .iter()
        .map(|n| n.attribute("data-uri").unwrap())
        .collect();
    assert_eq!(
        uris,
        links[15..30].iter().map(String::as_str).collect::<Vec<_>>()
    );
    let texts: Vec<&str> = labels[0]
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .collect();
    let gtin = product["gtin"].as_str().unwrap();
    assert_eq!(
        texts,
        [
            format!("(01) {gtin}"),
            "(10) H-01".into(),
            "(21) HN0015".into()
        ]
    );
    assert!(svg.contains("Honey 250 g &lt;raw&gt;"));
    // Scan the rendered sheet: all 15 codes.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sheet.svg"), &svg).unwrap();
    let status = Command::new("rsvg-convert")
        .args(["--dpi-x", "150", "--dpi-y", "150", "-o"])
        .arg(dir.path().join("sheet.png"))
        .arg(dir.path().join("sheet.svg"))
        .status()
        .expect("rsvg-convert runs");
    assert!(status.success());
    let scanned = scan_sheet(&dir.path().join("sheet.png"), 150.0);
    assert_eq!(
        scanned,
        links[15..30].iter().cloned().collect::<BTreeSet<_>>()
    );

    // Past the last sheet: 400 naming `page`.
    let problem = assert_problem(
        app.get(
            &lot_url(id, "H-01", "/labels.svg?page=4"),
            Some(&app.keys.acme),
        )
        .await,
        400,
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "page");

    // PDF: all three sheets, a page each.
    let response = app
        .get(&lot_url(id, "H-01", "/labels.pdf"), Some(&app.keys.acme))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/pdf");
    let pdf = response.bytes().await.unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    let pdf_path = dir.path().join("labels.pdf");
    std::fs::write(&pdf_path, &pdf).unwrap();
    let info = Command::new("pdfinfo")
        .arg(&pdf_path)
        .output()
        .expect("pdfinfo runs (Debian package poppler-utils; .ci/run installs it)");
    let info = String::from_utf8_lossy(&info.stdout);
    assert!(
        info.lines()
            .any(|l| l.split_whitespace().eq(["Pages:", "3"])),
        "{info}"
    );
    // Page 1 rendered by poppler at 200 dpi scans back, label by label, to
    // the first 15 URIs.
    let status = Command::new("pdftoppm")
        .args(["-r", "200", "-f", "1", "-l", "1", "-png", "-singlefile"])
        .arg(&pdf_path)
        .arg(dir.path().join("page1"))
        .status()
        .expect("pdftoppm runs");
    assert!(status.success());
    let scanned = scan_sheet(&dir.path().join("page1.png"), 200.0);
    assert_eq!(
        scanned,
        links[..15].iter().cloned().collect::<BTreeSet<_>>()
    );
    // The human-readable text is real text.
    let text = Command::new("pdftotext")
        .args(["-f", "1", "-l", "1"])
        .arg(&pdf_path)
        .arg("-")
        .output()
        .expect("pdftotext runs");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains(&format!("(01) {gtin}")), "{text}");
    assert!(text.contains("(21) HN0000"), "{text}");

    // A window of sheets: page 2, one sheet.
    let response = app
        .get(
            &lot_url(id, "H-01", "/labels.pdf?page=2&sheets=1"),
            Some(&app.keys.acme),
        )
        .await;
    let pdf = response.bytes().await.unwrap();
    std::fs::write(&pdf_path, &pdf).unwrap();
    let info = Command::new("pdfinfo").arg(&pdf_path).output().unwrap();
    let info = String::from_utf8_lossy(&info.stdout);
    assert!(
        info.lines()
            .any(|l| l.split_whitespace().eq(["Pages:", "1"])),
        "{info}"
    );
    assert_problem(
        app.get(
            &lot_url(id, "H-01", "/labels.pdf?sheets=0"),
            Some(&app.keys.acme),
        )
        .await,
        400,
    )
    .await;

    // A lot without items has nothing to print.
    app.create_lot(&app.keys.acme, id, "EMPTY").await;
    assert_problem(
        app.get(&lot_url(id, "EMPTY", "/labels.svg"), Some(&app.keys.acme))
            .await,
        404,
    )
    .await;
}
