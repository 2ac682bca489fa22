//! Everything that speaks Ecwid: the HTTP client, its request budget, how it waits out
//! throttling, the token check, and the document model.

pub mod access;
pub mod api_metrics;
pub mod batch;
pub mod budget;
pub mod client;
pub mod model;
pub mod throttle;

pub use access::Patience;
pub use client::{ApiError, Client, CounterSnapshot};
