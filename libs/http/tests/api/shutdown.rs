//! Graceful shutdown driven by the shutdown future.

use std::time::Duration;

use crate::helpers::spawn_app;

#[tokio::test]
async fn in_flight_request_completes_when_shutdown_fires() {
    let mut app = spawn_app().await;
    let client = app.client.clone();
    let url = app.url("/slow");
    let in_flight = tokio::spawn(async move { client.get(url).send().await });
    // Let the request reach the handler before shutting down.
    tokio::time::sleep(Duration::from_millis(200)).await;
    app.trigger_shutdown();

    let response = in_flight
        .await
        .unwrap()
        .expect("in-flight request completes");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.text().await.unwrap(), "done");
    app.wait_stopped().await.expect("server stops cleanly");

    // The listener is closed: new connections are refused.
    let after = reqwest::Client::new().get(app.url("/healthz")).send().await;
    assert!(after.is_err());
}
