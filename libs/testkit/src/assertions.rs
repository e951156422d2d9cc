//! Assertions every service's HTTP tests share, and cleaning up the shared
//! Redis after a test.

use serde_json::Value;

/// Asserts an RFC 9457 problem+json answer with `status` (type, title,
/// status and the request id every error carries); returns the body.
pub async fn assert_problem(response: reqwest::Response, status: u16) -> Value {
    let got = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = response.text().await.unwrap_or_default();
    assert_eq!(got, status, "status; body: {text}");
    assert_eq!(content_type, "application/problem+json", "body: {text}");
    let body: Value = serde_json::from_str(&text).expect("problem body is JSON");
    assert!(body["type"].is_string(), "{body}");
    assert!(body["title"].is_string(), "{body}");
    assert_eq!(body["status"], status, "{body}");
    assert!(body["request_id"].is_string(), "{body}");
    body
}

/// Deletes every Redis key starting with `prefix` in ONE `DEL` (atomic, as
/// a `FLUSHALL` is for the namespace), with a connection of its own.
/// Returns how many keys were deleted.
pub fn flush_namespace(prefix: &str) -> redis::RedisResult<usize> {
    let client = redis::Client::open(crate::redis_url())?;
    let mut con = client.get_connection()?;
    let mut keys: Vec<Vec<u8>> = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, batch): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(1000)
            .query(&mut con)?;
        keys.extend(batch);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    if keys.is_empty() {
        return Ok(0);
    }
    redis::cmd("DEL").arg(&keys).query::<usize>(&mut con)
}
