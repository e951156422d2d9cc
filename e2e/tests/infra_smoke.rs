//! Proves the infrastructure CI starts is real and usable: an event published
//! to the Kafka-protocol broker with the producer settings the platform uses
//! (idempotent, acks=all, Java-compatible murmur2 partitioner) is read back
//! byte for byte, and a Redis key round-trips. Never skipped: without the
//! broker or Redis these tests fail and say how to start them.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use tracechain_e2e::{kafka_brokers, redis_url, unique_name};

const HINT: &str = "is the broker up? run `scripts/infra.sh up`";

#[tokio::test]
async fn kafka_publish_is_acknowledged_and_read_back() {
    let brokers = kafka_brokers();
    let topic = unique_name("smoke");

    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .expect("admin client config is valid");
    let created = admin
        .create_topics(
            &[NewTopic::new(&topic, 3, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .unwrap_or_else(|e| panic!("create topic: {e}; {HINT}"));
    for result in created {
        result.unwrap_or_else(|(name, code)| panic!("create topic {name}: {code}; {HINT}"));
    }

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("partitioner", "murmur2_random")
        .set("message.timeout.ms", "15000")
        .create()
        .expect("producer config is valid");
    let payload = br#"{"type":"smoke.test","payload":{"n":1}}"#;
    let key = "aggregate-1";
    let headers = OwnedHeaders::new().insert(Header {
        key: "traceparent",
        value: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
    });
    let delivery = producer
        .send(
            FutureRecord::to(&topic)
                .key(key)
                .payload(&payload[..])
                .headers(headers),
            Duration::from_secs(15),
        )
        .await
        .unwrap_or_else(|(e, _)| panic!("publish was not acknowledged: {e}; {HINT}"));
    let (partition, offset) = (delivery.partition, delivery.offset);
    assert!(
        (0..3).contains(&partition),
        "partition {partition} out of range"
    );
    assert!(offset >= 0, "broker acknowledged offset {offset}");

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", unique_name("smoke-group"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer config is valid");
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(&topic, partition, Offset::Offset(offset))
        .expect("valid partition offset");
    consumer.assign(&assignment).expect("assign partition");

    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let message = loop {
        assert!(
            std::time::Instant::now() < deadline,
            "no message read back within 20 s; {HINT}"
        );
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(m)) => break m.detach(),
            Some(Err(e)) => panic!("consume: {e}"),
            None => continue,
        }
    };
    assert_eq!(message.payload(), Some(&payload[..]));
    assert_eq!(message.key(), Some(key.as_bytes()));
    assert_eq!(message.offset(), offset);
    let traceparent = message
        .headers()
        .and_then(|h| h.iter().find(|h| h.key == "traceparent"))
        .and_then(|h| h.value);
    assert_eq!(
        traceparent,
        Some(&b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"[..])
    );
}

#[tokio::test]
async fn redis_key_round_trips() {
    let client = redis::Client::open(redis_url()).expect("valid redis url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|e| panic!("connect to redis: {e}; {HINT}"));
    let key = unique_name("smoke");
    let () = redis::cmd("SET")
        .arg(&key)
        .arg("value-1")
        .arg("EX")
        .arg(60)
        .query_async(&mut conn)
        .await
        .expect("SET");
    let value: Option<String> = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .expect("GET");
    assert_eq!(value.as_deref(), Some("value-1"));
    let deleted: i64 = redis::cmd("DEL")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .expect("DEL");
    assert_eq!(deleted, 1);
    let gone: Option<String> = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .expect("GET");
    assert_eq!(gone, None);
}
