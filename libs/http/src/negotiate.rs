//! Content negotiation for pages that answer people and programs alike (a
//! scanned label opens in a phone's browser; an app asks for JSON).
//!
//! `?format=json|html` decides; otherwise `Accept`, and JSON only when it
//! ranks `application/json` above `text/html` (a browser's `*/*` stays
//! HTML). Anything else in `format` is a 400 naming the parameter.

use actix_web::HttpRequest;
use actix_web::http::header;

use crate::problem::FieldError;

/// Whether the client asked for JSON rather than HTML.
pub fn wants_json(req: &HttpRequest) -> Result<bool, FieldError> {
    for pair in req.query_string().split('&') {
        if let Some(value) = pair.strip_prefix("format=") {
            return match value {
                "json" => Ok(true),
                "html" => Ok(false),
                other => {
                    let shown: String = other.chars().take(20).collect();
                    Err(FieldError::new(
                        "format",
                        format!("must be json or html, got {shown:?}"),
                    ))
                }
            };
        }
    }
    let Some(accept) = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(false);
    };
    let (mut json, mut html) = (0.0f32, 0.0f32);
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        let (j, h) = match media.as_str() {
            "application/json" => (q, 0.0),
            "text/html" => (0.0, q),
            "application/*" => (q * 0.99, 0.0),
            "text/*" => (0.0, q * 0.99),
            "*/*" => (q * 0.98, q * 0.98),
            _ => (0.0, 0.0),
        };
        json = json.max(j);
        html = html.max(h);
    }
    Ok(json > html)
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn format_wins_then_accept_ranks() {
        let ask = |uri: &str, accept: Option<&str>| {
            let mut req = TestRequest::get().uri(uri);
            if let Some(accept) = accept {
                req = req.insert_header((header::ACCEPT, accept));
            }
            wants_json(&req.to_http_request())
        };
        assert!(ask("/x?format=json", Some("text/html")).unwrap());
        assert!(!ask("/x?format=html", Some("application/json")).unwrap());
        assert_eq!(ask("/x?format=xml", None).unwrap_err().field, "format");
        assert!(ask("/x", Some("application/json")).unwrap());
        assert!(!ask("/x", Some("text/html,application/xhtml+xml,*/*;q=0.8")).unwrap());
        assert!(!ask("/x", Some("*/*")).unwrap());
        assert!(!ask("/x", None).unwrap());
        assert!(ask("/x", Some("text/html;q=0.5, application/json")).unwrap());
    }
}
