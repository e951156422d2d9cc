//! With an OTLP/HTTP endpoint configured, spans reach the collector when the
//! guard is dropped. The "collector" is a loopback socket that answers 200.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use tracechain_telemetry::{LogFormat, OtlpProtocol, TelemetryConfig, init};

/// Accepts one HTTP request and reports its request line and headers.
fn fake_collector() -> (String, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else {
            return;
        };
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut received = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = stream.read(&mut buf) {
            if n == 0 {
                break;
            }
            received.extend_from_slice(&buf[..n]);
            if received.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
        let _ = stream.write_all(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        );
        let _ = tx.send(String::from_utf8_lossy(&received).into_owned());
    });
    (endpoint, rx)
}

#[test]
fn spans_are_exported_over_otlp_http_on_shutdown() {
    let (endpoint, received) = fake_collector();
    let mut config = TelemetryConfig::new("export-test");
    config.log_format = LogFormat::Json;
    config.otlp_endpoint = Some(endpoint);
    config.otlp_protocol = OtlpProtocol::HttpProtobuf;
    config.test_writer = true;
    let guard = init(&config).unwrap();
    tracing::info_span!("exported").in_scope(|| tracing::info!("Inside the exported span"));
    drop(guard);
    let request = received
        .recv_timeout(Duration::from_secs(10))
        .expect("the collector received a request");
    assert!(request.starts_with("POST /v1/traces HTTP/1.1"), "{request}");
    assert!(
        request
            .to_ascii_lowercase()
            .contains("content-type: application/x-protobuf"),
        "{request}"
    );
}
