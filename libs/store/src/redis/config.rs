//! How to reach Redis, and how long to wait for it.

use std::fmt;
use std::time::Duration;

use crate::namespace::Namespace;

/// Settings of a [`RedisStore`](crate::RedisStore).
#[derive(Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// `redis://[user:password@]host:port[/db]` (or `rediss://` for TLS if the
    /// redis crate is built with it). Never printed: `Debug` redacts the
    /// credentials.
    pub url: String,
    /// The prefix of every key this store touches.
    pub namespace: Namespace,
    /// The longest wait for a TCP connection (at start and on each reconnect).
    pub connect_timeout: Duration,
    /// The longest wait for Redis to answer one command once connected. A call
    /// waits at most `connect_timeout + response_timeout` in all (a reconnect,
    /// then the answer), then fails as unavailable.
    pub response_timeout: Duration,
    /// How many times one reconnect retries, with exponential backoff from
    /// 100 ms, before the calls waiting on it fail as unavailable. The next
    /// call after that starts a new reconnect. Keep it small: a request should
    /// get its 503 quickly while Redis is down, not wait for a long backoff.
    pub reconnect_attempts: usize,
    /// The longest pause between two reconnect attempts.
    pub reconnect_max_delay: Duration,
}

impl RedisConfig {
    /// Settings with the defaults: 1 s to connect, 1 s per answer (so a call
    /// fails within 2 s when Redis is gone), 1 reconnect retry (a refused
    /// connection fails a call in about 0.2 s).
    pub fn new(url: impl Into<String>, namespace: Namespace) -> Self {
        RedisConfig {
            url: url.into(),
            namespace,
            connect_timeout: Duration::from_secs(1),
            response_timeout: Duration::from_secs(1),
            reconnect_attempts: 1,
            reconnect_max_delay: Duration::from_secs(1),
        }
    }

    /// The whole-call deadline: a reconnect, then the answer.
    pub(crate) fn call_timeout(&self) -> Duration {
        self.connect_timeout.saturating_add(self.response_timeout)
    }

    /// The URL with any `user:password@` replaced by `***@`.
    pub(crate) fn redacted_url(&self) -> String {
        redact(&self.url)
    }
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &self.redacted_url())
            .field("namespace", &self.namespace)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("reconnect_attempts", &self.reconnect_attempts)
            .field("reconnect_max_delay", &self.reconnect_max_delay)
            .finish()
    }
}

fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***{}", &rest[at..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_password() {
        let config = RedisConfig::new(
            "redis://app:s3cret@redis.internal:6379/2",
            Namespace::service("registry").unwrap(),
        );
        let shown = format!("{config:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(
            shown.contains("redis://***@redis.internal:6379/2"),
            "{shown}"
        );
        assert_eq!(redact("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
        assert_eq!(redact("not a url"), "not a url");
    }
}
