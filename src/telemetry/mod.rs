//! What the server tells about itself: its metrics and its log lines.
//!
//! First in the import order, so that every other part can record into it;
//! it imports nothing of the crate.

pub mod log;
pub mod metrics;
