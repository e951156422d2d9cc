//! Two writers, a zombie, and takeover.
