//! The ledger as separate processes (the built `tracechain-ledger` binary)
//! over the real broker: crashes (SIGKILL) at random points under load, two
//! writers, takeover, and a paused writer (a zombie) that wakes up.

#[path = "../common/mod.rs"]
mod common;

mod crash;
mod helpers;
mod writers;
