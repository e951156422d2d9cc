//! Integration tests of `tracechain-core`, one module per concept, in one test
//! binary so it links once.

mod canonical;
mod merkle_log;
mod merkle_props;
mod merkle_vectors;
mod note;
mod reference;
mod signing;
