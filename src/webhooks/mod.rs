//! Ecwid's webhooks, received: the signature check, the body's fields, and the durable inbox
//! (`webhook_events`) that the delta worker reads. Webhooks are hints ("entity X may have
//! changed"): the receiver only stores them; the worker re-reads the entities.
//!
//! - [`signature`]: `X-Ecwid-Webhook-Signature`, signed and verified in constant time.
//! - [`event`]: the body read and mapped to the inbox row (pure).
//! - [`committer`]: group commit of received rows through the mirror's writer.
//! - [`routes`]: which store a delivery is for, by its storeId, with that store's secret.
//! - [`receiver`]: the axum handler for `POST {webhooks.path}`, one address for every store.

pub mod committer;
pub mod event;
pub mod receiver;
pub mod routes;
pub mod signature;

pub use committer::Inbox;
pub use receiver::Receiver;
pub use routes::{Routes, StoreRoute};
