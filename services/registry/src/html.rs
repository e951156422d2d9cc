//! The resolver's small HTML page — what a phone's browser shows after
//! scanning a label — and the escaping every HTML and SVG text goes through.
//!
//! Invariant: every value that did not come from this file's own literals
//! passes through [`escape`] (names, brands, reasons, lots and serials may
//! hold `<`, `&`, `"` and `'`: GS1 character set 82 includes them). The page
//! loads nothing (inline CSS, no scripts), and the handler sends a
//! `Content-Security-Policy` that forbids everything else.

use std::fmt::Write as _;

use crate::routes::resolver::{Resolution, Status};

/// Escapes `& < > " '` for HTML/XML text and attribute values (the one
/// implementation, shared with the QR crate's SVG).
pub use tracechain_qr::escape_xml as escape;

const STYLE: &str = "body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:40rem;margin:0 auto;padding:1rem;color:#1a1a1a;line-height:1.4}\
h1{font-size:1.5rem;margin:.2rem 0}.brand{color:#555;margin:0 0 1rem}\
.status{padding:.8rem 1rem;border-radius:.5rem;margin:1rem 0}\
.recalled{background:#fde8e8;border:2px solid #c81e1e}.active{background:#e7f6ec;border:1px solid #2f855a}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem}dt{font-weight:600}dd{margin:0;word-break:break-all}\
footer{margin-top:2rem;font-size:.85rem;color:#666}";

/// The page for a resolution.
pub fn resolution_page(r: &Resolution) -> String {
    let mut body = String::new();
    let _ = write!(body, "<h1>{}</h1>", escape(&r.product.name));
    if let Some(brand) = &r.product.brand {
        let _ = write!(body, r#"<p class="brand">{}</p>"#, escape(brand));
    }
    match (&r.status, &r.recall) {
        (Some(Status::Recalled), Some(recall)) => {
            let _ = write!(
                body,
                r#"<div class="status recalled"><strong>Recalled</strong> on {}: {}</div>"#,
                escape(&recall.recalled_at),
                escape(&recall.reason)
            );
        }
        (Some(_), _) => {
            body.push_str(r#"<div class="status active">Not recalled</div>"#);
        }
        (None, _) => {}
    }
    if let Some(description) = &r.product.description {
        let _ = write!(body, "<p>{}</p>", escape(description));
    }
    body.push_str("<dl>");
    let mut row = |name: &str, value: &str| {
        let _ = write!(body, "<dt>{name}</dt><dd>{}</dd>", escape(value));
    };
    row("GTIN", &r.gtin);
    if let Some(lot) = &r.lot {
        row("Lot", lot);
    }
    if let Some(serial) = &r.serial {
        row("Serial", serial);
    }
    if let Some(produced) = &r.produced_at {
        row("Produced", produced);
    }
    if let Some(expires) = &r.expires_at {
        let text = if r.expired == Some(true) {
            format!("{expires} (expired)")
        } else {
            expires.clone()
        };
        row("Expires", &text);
    }
    row("Manufacturer", &r.manufacturer);
    body.push_str("</dl>");
    let _ = write!(
        body,
        r#"<footer><a href="{}">{}</a> · <a href="?format=json">JSON</a></footer>"#,
        escape(&r.digital_link),
        escape(&r.digital_link)
    );
    let title = match (&r.status, &r.serial) {
        (Some(Status::Recalled), _) => format!("{} — recalled", r.product.name),
        _ => r.product.name.clone(),
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{}</title><style>{STYLE}</style></head><body>{body}</body></html>\n",
        escape(&title)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_the_five_characters() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(escape("plain"), "plain");
    }
}
