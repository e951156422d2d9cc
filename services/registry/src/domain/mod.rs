//! The registry's domain: requests are validated into commands here, and
//! commands become the events published on the registry topic.
//!
//! - [`product`], [`lot`], [`items`]: each request body as it arrives
//!   (strings, so that every field error can be named precisely) and the
//!   validating `validate` that turns it into a command built from the GS1
//!   types of `tracechain-domain`;
//! - [`events`]: the four event payloads (`product.registered`,
//!   `lot.created`, `items.serialized`, `lot.recalled`), schema version 1;
//! - [`text`]: the checks free-text fields share;
//! - [`dates`]: `YYYY-MM-DD` dates (GS1 production and expiry dates).
//!
//! Invariant: a command or event in hand is valid; validation never panics,
//! whatever the input, and lists every invalid field it finds.

pub mod dates;
pub mod events;
pub mod items;
pub mod lot;
pub mod product;
pub mod text;

use tracechain_http::FieldError;

/// The invalid fields of one request, in the order they were checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Violations(Vec<FieldError>);

impl Violations {
    /// No violation yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `field` is invalid because of `message`.
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    /// Runs a parse; on error records it under `field` and returns `None`.
    pub fn check<T, E: std::fmt::Display>(
        &mut self,
        field: &str,
        result: Result<T, E>,
    ) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.add(field, error.to_string());
                None
            }
        }
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The recorded violations.
    pub fn into_vec(self) -> Vec<FieldError> {
        self.0
    }

    /// `Ok(value)` when nothing was recorded and every part parsed.
    pub fn finish<T>(self, value: Option<T>) -> Result<T, Vec<FieldError>> {
        match value {
            Some(value) if self.0.is_empty() => Ok(value),
            _ if self.0.is_empty() => Err(vec![FieldError::new("body", "invalid request")]),
            _ => Err(self.0),
        }
    }
}
