//! Everything that speaks Ecwid: the HTTP client, its request budget, how it waits out
//! throttling, and the document model.

pub mod batch;
pub mod budget;
pub mod client;
pub mod model;
pub mod throttle;

pub use client::{ApiError, Client, CounterSnapshot};
