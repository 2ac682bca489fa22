//! Everything that speaks Ecwid: the HTTP client, its request budget and the document model.

pub mod batch;
pub mod budget;
pub mod client;
pub mod model;

pub use client::{ApiError, Client, CounterSnapshot};
