//! Creating, reading and listing shipments: SSCCs, item checks against the
//! registry's events, one open shipment per item, visibility, filters.

use serde_json::{Value, json};
use tracechain_domain::Sscc;
use tracechain_testkit::assert_problem;

use crate::helpers::{BASE, TestApp, spawn_app};

#[tokio::test]
async fn a_manufacturer_ships_its_items_under_a_fresh_sscc() {
    let app = spawn_app().await;
    let items = app.seed_items("acme", "L1", &["A1", "A2", "A3"]).await;
    let response = app
        .post(
            "/v1/shipments",
            Some(&app.keys.acme),
            &TestApp::shipment_body(&items, "fastfreight"),
        )
        .await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let shipment: Value = response.json().await.unwrap();
    let sscc = shipment["sscc"].as_str().unwrap();
    // A valid SSCC-18 (the parser checks the check digit) under the
    // configured extension digit and company prefix.
    Sscc::parse(sscc).unwrap();
    assert!(sscc.starts_with("00614141"), "{sscc}");
    assert_eq!(shipment["label_uri"], format!("{BASE}/00/{sscc}"));
    assert_eq!(shipment["state"], "created");
    assert_eq!(shipment["custodian"], "fastfreight");
    assert_eq!(shipment["manufacturer"], "acme");
    assert_eq!(shipment["items"], json!(items));
    assert_eq!(shipment["destination"]["lat"], 51.9);
    assert_eq!(
        location,
        format!("/v1/shipments/{}", shipment["id"].as_str().unwrap())
    );
    assert_eq!(app.get_json(&location, &app.keys.acme).await["sscc"], sscc);
    // The carrier, an auditor and an admin see it; globex does not; finance may not read.
    for key in [&app.keys.fastfreight, &app.keys.auditor, &app.keys.admin] {
        assert_eq!(app.get_json(&location, key).await["id"], shipment["id"]);
    }
    assert_problem(app.get(&location, Some(&app.keys.globex)).await, 404).await;
    assert_problem(app.get(&location, Some(&app.keys.lastmile)).await, 404).await;
    assert_problem(app.get(&location, Some(&app.keys.finance)).await, 403).await;
    assert_problem(
        app.get("/v1/shipments/not-a-uuid", Some(&app.keys.acme))
            .await,
        404,
    )
    .await;

    // A second shipment gets another SSCC.
    let more = app.seed_items("acme", "L2", &["B1"]).await;
    let second = app.ship(&more).await;
    assert_ne!(second["sscc"], shipment["sscc"]);
    assert_eq!(
        app.event_types().await,
        ["shipment.created", "shipment.created"]
    );
}

#[tokio::test]
async fn items_must_exist_belong_to_the_manufacturer_and_not_be_shipping() {
    let app = spawn_app().await;
    let items = app.seed_items("acme", "L1", &["A1", "A2"]).await;
    let theirs = app.seed_items("globex", "G1", &["Z1"]).await;
    let before = app.published().await;

    // Unknown serial, another manufacturer's item, a wrong lot: 422 naming it.
    let unknown = items[0].replace("/21/A1", "/21/NOPE");
    let wrong_lot = items[0].replace("/10/L1/", "/10/L9/");
    for item in [&unknown, &theirs[0], &wrong_lot] {
        let response = app
            .post(
                "/v1/shipments",
                Some(&app.keys.acme),
                &TestApp::shipment_body(std::slice::from_ref(item), "fastfreight"),
            )
            .await;
        let problem = assert_problem(response, 422).await;
        assert_eq!(problem["item"], *item);
    }
    assert_eq!(app.published().await, before, "nothing published");

    // An item without its lot, or under another host, is the same item.
    let short = items[0]
        .replace(&format!("{BASE}/"), "https://other.example/")
        .replace("/10/L1", "");
    let first = app.ship(&[short, items[1].clone()]).await;
    assert_eq!(first["items"], json!(items), "stored in canonical form");

    // Already in an open shipment: 409 naming the item and the shipment; the
    // other item of the refused request stays free.
    let fresh = app.seed_items("acme", "L1", &["A9"]).await;
    let response = app
        .post(
            "/v1/shipments",
            Some(&app.keys.acme),
            &TestApp::shipment_body(&[fresh[0].clone(), items[0].clone()], "fastfreight"),
        )
        .await;
    let problem = assert_problem(response, 409).await;
    assert_eq!(problem["shipment_id"], first["id"]);
    app.ship(&fresh).await;

    // Delivered: the items may ship again.
    let label = first["label_uri"].as_str().unwrap();
    let fast = app.phone("fastfreight", &app.keys.fastfreight).await;
    app.accept(&fast.scan(label, "pickup")).await;
    app.accept(&fast.scan(label, "delivery")).await;
    let again = app.ship(&items).await;
    assert_ne!(again["id"], first["id"]);
}

#[tokio::test]
async fn invalid_requests_list_every_bad_field_and_change_nothing() {
    let app = spawn_app().await;
    let items = app.seed_items("acme", "L1", &["A1"]).await;
    let before = app.published().await;
    let body = json!({
        "carrier_id": "Not A Tenant",
        "items": [items[0], items[0], "https://id.example.com/01/09506000134352", "garbage"],
        "origin": {},
        "destination": {"address": "x", "lat": 95.0},
        "due_by": "tomorrow",
        "agreement_ref": "",
    });
    let response = app.post("/v1/shipments", Some(&app.keys.acme), &body).await;
    let problem = assert_problem(response, 422).await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    for field in [
        "carrier_id",
        "items[1]",
        "items[2]",
        "items[3]",
        "origin",
        "destination",
        "due_by",
        "agreement_ref",
    ] {
        assert!(fields.contains(&field), "{field} in {fields:?}");
    }
    let response = app
        .post("/v1/shipments", Some(&app.keys.acme), &json!({"items": []}))
        .await;
    assert_problem(response, 422).await;
    // Roles: carriers, auditors and finance do not create; an admin names the manufacturer.
    let good = TestApp::shipment_body(&items, "fastfreight");
    for key in [&app.keys.fastfreight, &app.keys.auditor, &app.keys.finance] {
        assert_problem(app.post("/v1/shipments", Some(key), &good).await, 403).await;
    }
    assert_problem(app.post("/v1/shipments", None, &good).await, 401).await;
    let problem = assert_problem(
        app.post("/v1/shipments", Some(&app.keys.admin), &good)
            .await,
        422,
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "manufacturer");
    let mut as_globex = good.clone();
    as_globex["manufacturer"] = json!("globex");
    assert_problem(
        app.post("/v1/shipments", Some(&app.keys.acme), &as_globex)
            .await,
        422,
    )
    .await;
    assert_eq!(app.published().await, before);
    let mut for_acme = good.clone();
    for_acme["manufacturer"] = json!("acme");
    let response = app
        .post("/v1/shipments", Some(&app.keys.admin), &for_acme)
        .await;
    assert_eq!(response.status(), 201);
}

#[tokio::test]
async fn listings_filter_by_state_carrier_and_time_and_page() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let items = app.seed_items("acme", "L1", &[&format!("S{i}")]).await;
        let carrier = if i < 3 { "fastfreight" } else { "lastmile" };
        let response = app
            .post(
                "/v1/shipments",
                Some(&app.keys.acme),
                &TestApp::shipment_body(&items, carrier),
            )
            .await;
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.unwrap();
        ids.push(body);
    }
    let fast = app.phone("fastfreight", &app.keys.fastfreight).await;
    app.accept(&fast.scan(ids[0]["label_uri"].as_str().unwrap(), "pickup"))
        .await;

    let all = app.get_json("/v1/shipments", &app.keys.acme).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 5);
    assert!(all["next_cursor"].is_null());
    let picked = app
        .get_json("/v1/shipments?state=picked_up", &app.keys.acme)
        .await;
    assert_eq!(picked["items"].as_array().unwrap().len(), 1);
    assert_eq!(picked["items"][0]["id"], ids[0]["id"]);
    let by_last = app
        .get_json("/v1/shipments?carrier=lastmile", &app.keys.acme)
        .await;
    assert_eq!(by_last["items"].as_array().unwrap().len(), 2);
    // A carrier sees only its own.
    let theirs = app.get_json("/v1/shipments", &app.keys.fastfreight).await;
    assert_eq!(theirs["items"].as_array().unwrap().len(), 3);
    assert_eq!(
        app.get_json("/v1/shipments", &app.keys.globex).await["items"],
        json!([])
    );
    // Paging visits each once.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/shipments?limit=2&cursor={c}"),
            None => "/v1/shipments?limit=2".to_owned(),
        };
        let page = app.get_json(&path, &app.keys.auditor).await;
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["id"].clone()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    // Time window: created at or after the third's creation.
    let from = ids[2]["created_at"].as_str().unwrap();
    let window = app
        .get_json(
            &format!("/v1/shipments?from={}", from.replace('+', "%2B")),
            &app.keys.acme,
        )
        .await;
    assert_eq!(window["items"].as_array().unwrap().len(), 3, "{window}");
    let none = app
        .get_json("/v1/shipments?to=2000-01-01T00:00:00Z", &app.keys.acme)
        .await;
    assert_eq!(none["items"], json!([]));
    for bad in [
        "state=lost",
        "limit=0",
        "from=yesterday",
        "cursor=zzz",
        "carrier=Not%20A",
    ] {
        let problem = assert_problem(
            app.get(&format!("/v1/shipments?{bad}"), Some(&app.keys.acme))
                .await,
            400,
        )
        .await;
        assert_eq!(
            problem["errors"][0]["field"],
            bad.split('=').next().unwrap(),
            "{problem}"
        );
    }
}

#[tokio::test]
async fn an_idempotency_key_makes_a_retried_creation_answer_the_first_response() {
    let app = spawn_app().await;
    let items = app.seed_items("acme", "L1", &["I1"]).await;
    let body = TestApp::shipment_body(&items, "fastfreight");
    let post = |body: &Value| {
        app.client
            .post(app.url("/v1/shipments"))
            .bearer_auth(&app.keys.acme)
            .header("Idempotency-Key", "order-4711")
            .json(body)
            .send()
    };
    let first = post(&body).await.unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let again = post(&body).await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(
        again.headers()["location"].to_str().unwrap(),
        format!("/v1/shipments/{}", first["id"].as_str().unwrap())
    );
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    assert_eq!(app.event_types().await, ["shipment.created"]);
    // The same key with another body is refused.
    let mut other = body.clone();
    other["due_by"] = json!("2027-01-01T00:00:00Z");
    assert_problem(post(&other).await.unwrap(), 422).await;
    // A malformed key is a 400 naming the header.
    let response = app
        .client
        .post(app.url("/v1/shipments"))
        .bearer_auth(&app.keys.acme)
        .header("Idempotency-Key", "has space")
        .json(&body)
        .send()
        .await
        .unwrap();
    let problem = assert_problem(response, 400).await;
    assert_eq!(problem["errors"][0]["field"], "Idempotency-Key");
}

#[tokio::test]
async fn concurrent_creations_each_get_their_own_sscc() {
    let app = spawn_app().await;
    let serials: Vec<String> = (0..40).map(|i| format!("C{i}")).collect();
    let refs: Vec<&str> = serials.iter().map(String::as_str).collect();
    let items = app.seed_items("acme", "L1", &refs).await;
    let bodies: Vec<Value> = items
        .iter()
        .map(|item| TestApp::shipment_body(std::slice::from_ref(item), "fastfreight"))
        .collect();
    let answers = futures::future::join_all(
        bodies
            .iter()
            .map(|body| app.post("/v1/shipments", Some(&app.keys.acme), body)),
    )
    .await;
    let mut ssccs = std::collections::BTreeSet::new();
    for response in answers {
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.unwrap();
        assert!(ssccs.insert(body["sscc"].as_str().unwrap().to_owned()));
    }
    assert_eq!(ssccs.len(), 40);
}
