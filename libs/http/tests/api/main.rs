//! Integration tests: real HTTP over loopback against `spawn_app()`.

mod auth;
mod health;
mod helpers;
mod key_table;
mod problems;
mod request_context;
mod shutdown;
