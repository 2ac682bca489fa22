//! What a completed batch says of one of its requests, the same for every kind of request:
//! done, refused for good (a 4xx other than 429), or not run.

use crate::ecwid::model::{BatchResponse, BatchStatus};
use crate::mirror::outbox::Outcome;

/// What Ecwid did with one request of a completed batch.
pub(super) fn outcome(status: &BatchStatus, id: &str) -> Outcome {
    match status.response(id) {
        Some(r) if r.status == "COMPLETED" => Outcome::Applied,
        Some(r) => {
            let code = r.http_status_code.unwrap_or(0);
            let body = body(r);
            let message = serde_json::from_str::<crate::ecwid::model::ErrorBody>(&body)
                .ok()
                .and_then(|e| e.error_message)
                .unwrap_or(body);
            let error = format!("Ecwid answered {code} ({}): {message}", r.status);
            if (400..500).contains(&code) && code != 429 {
                Outcome::Failed(error)
            } else {
                Outcome::NotRun(error)
            }
        }
        None => Outcome::NotRun("the batch has no answer for this change".into()),
    }
}

/// The answer's body as text, whichever way Ecwid sent it.
pub(super) fn body(r: &BatchResponse) -> String {
    r.escaped_http_body
        .clone()
        .or_else(|| r.http_body.as_ref().map(|b| b.get().to_string()))
        .unwrap_or_default()
}
