//! Binding and running an actix-web server that stops when told to.
//!
//! [`bind`] opens the listener first, so the port (0 allowed) is known before
//! the server runs; [`Server::start`] builds the `HttpServer` on it with the
//! graceful-shutdown timeout, without actix's own signal handling: the server
//! stops accepting, lets in-flight requests finish (up to
//! `shutdown_grace_secs`) and exits when the `shutdown` future resolves.
//! [`shutdown_signal`] is that future for `main` (SIGTERM or Ctrl-C).

use std::net::{SocketAddr, TcpListener};

use actix_web::body::MessageBody;
use actix_web::dev::{ServerHandle, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, Error, HttpServer};
use serde::{Deserialize, Serialize};

use crate::defaults::{DEFAULT_JSON_LIMIT_BYTES, Limits};

/// HTTP settings every service shares (e.g. the `http` section of its config).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// The address to bind, e.g. `0.0.0.0`, `127.0.0.1` or `::`.
    pub host: String,
    /// The port; 0 picks a free one (see [`Server::port`]).
    pub port: u16,
    /// The largest accepted JSON body, in bytes.
    pub json_limit_bytes: usize,
    /// How long in-flight requests may run after shutdown starts, in seconds;
    /// keep it below the pod's `terminationGracePeriodSeconds`.
    pub shutdown_grace_secs: u64,
    /// Worker threads; `None` uses actix's default (one per physical core).
    pub workers: Option<usize>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            host: "0.0.0.0".to_owned(),
            port: 8080,
            json_limit_bytes: DEFAULT_JSON_LIMIT_BYTES,
            shutdown_grace_secs: 20,
            workers: None,
        }
    }
}

impl From<&HttpSettings> for Limits {
    fn from(settings: &HttpSettings) -> Self {
        Self {
            json_limit_bytes: settings.json_limit_bytes,
        }
    }
}

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The address could not be bound.
    #[error("could not bind {address}: {source}")]
    Bind {
        /// `host:port` as configured.
        address: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The listener could not be handed to actix or inspected.
    #[error("could not listen on the bound socket: {0}")]
    Listen(#[source] std::io::Error),
    /// The server failed while running.
    #[error("the http server failed: {0}")]
    Run(#[source] std::io::Error),
}

/// Binds the configured address.
pub fn bind(settings: &HttpSettings) -> Result<TcpListener, ServerError> {
    let address = if settings.host.contains(':') && !settings.host.starts_with('[') {
        format!("[{}]:{}", settings.host, settings.port)
    } else {
        format!("{}:{}", settings.host, settings.port)
    };
    TcpListener::bind(&address).map_err(|source| ServerError::Bind { address, source })
}

/// A started HTTP server; await [`Server::run_until_stopped`] to drive it.
pub struct Server {
    /// The actix server future.
    server: actix_web::dev::Server,
    /// The bound address.
    local_addr: SocketAddr,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Starts serving `factory`'s app on `listener`; stops gracefully when
    /// `shutdown` resolves. Must be called within a Tokio (or actix) runtime.
    pub fn start<F, T, B>(
        listener: TcpListener,
        settings: &HttpSettings,
        factory: F,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<Self, ServerError>
    where
        F: Fn() -> App<T> + Send + Clone + 'static,
        T: ServiceFactory<
                ServiceRequest,
                Config = (),
                Response = ServiceResponse<B>,
                Error = Error,
                InitError = (),
            > + 'static,
        B: MessageBody + 'static,
    {
        let local_addr = listener.local_addr().map_err(ServerError::Listen)?;
        let mut server = HttpServer::new(factory)
            .disable_signals()
            .shutdown_signal(shutdown)
            .shutdown_timeout(settings.shutdown_grace_secs);
        if let Some(workers) = settings.workers {
            server = server.workers(workers.max(1));
        }
        let server = server.listen(listener).map_err(ServerError::Listen)?.run();
        tracing::info!(address = %local_addr, "HTTP server listening");
        Ok(Self { server, local_addr })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.local_addr.port()
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A handle to stop the server from elsewhere (`stop(true)` is graceful).
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until the shutdown future resolves and in-flight requests finish.
    pub async fn run_until_stopped(self) -> Result<(), ServerError> {
        self.server.await.map_err(ServerError::Run)?;
        tracing::info!(address = %self.local_addr, "HTTP server stopped");
        Ok(())
    }
}

/// Resolves on SIGTERM (Unix) or Ctrl-C: the shutdown future for `main`.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %error, "Listening for Ctrl-C failed");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(error) => {
                tracing::error!(error = %error, "Listening for SIGTERM failed");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received; shutting down"),
        () = terminate => tracing::info!("SIGTERM received; shutting down"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_port_zero_and_ipv6_hosts() {
        let settings = HttpSettings {
            host: "127.0.0.1".to_owned(),
            port: 0,
            ..HttpSettings::default()
        };
        let listener = bind(&settings).unwrap();
        assert_ne!(listener.local_addr().unwrap().port(), 0);
        let bad = HttpSettings {
            host: "not a host".to_owned(),
            ..settings
        };
        assert!(matches!(bind(&bad), Err(ServerError::Bind { .. })));
    }

    #[test]
    fn settings_deserialize_with_defaults() {
        let settings: HttpSettings = serde_json::from_str(r#"{"port": 0}"#).unwrap();
        assert_eq!(settings.port, 0);
        assert_eq!(settings.json_limit_bytes, DEFAULT_JSON_LIMIT_BYTES);
        assert!(serde_json::from_str::<HttpSettings>(r#"{"prot": 0}"#).is_err());
    }
}
