//! The console's actions: a POST from one of its own forms, by a signed-in operator, settled
//! by the library functions the CLI calls ([`crate::mirror::actions`]), recorded with the
//! reason given, and answered by a redirect back to the page with what it did.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{Console, error_page, layout};
use crate::errors::error_chain;
use crate::mirror::actions::{self, Action, Actor, Performed, Via};

/// The form's fields: `action` with ticked `change`/`conflict` ids, or `one` = `action:id`
/// from a row's own button; `reason`; `back`, the page to return to; `form_token`.
struct Form(Vec<(String, String)>);

impl Form {
    fn first(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn ids(&self, name: &str) -> Result<Vec<i64>, String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.parse().map_err(|_| format!("{v:?} is not an id")))
            .collect()
    }
}

/// The action the form asks for, or why it cannot be done.
fn action_of(form: &Form) -> Result<Action, String> {
    let (verb, ids) = match form.first("one") {
        Some(one) => {
            let (verb, id) = one
                .split_once(':')
                .ok_or_else(|| format!("{one:?} names no action"))?;
            let id: i64 = id.parse().map_err(|_| format!("{id:?} is not an id"))?;
            (verb.to_string(), vec![id])
        }
        None => {
            let verb = form.first("action").unwrap_or_default().to_string();
            let name = if verb.starts_with("take_") {
                "conflict"
            } else {
                "change"
            };
            (verb, form.ids(name)?)
        }
    };
    if ids.is_empty() {
        return Err(
            "nothing was ticked: tick the rows to act on, or use a row's own button".into(),
        );
    }
    Ok(match verb.as_str() {
        "resend" => Action::Resend { ids },
        "applied" => Action::MarkApplied { ids },
        "dismiss" => Action::DismissChanges { ids },
        "take_local" => Action::TakeLocal { ids },
        "take_remote" => Action::TakeRemote { ids },
        other => return Err(format!("{other:?} is not an action the console knows")),
    })
}

pub async fn handle(
    State(console): State<Arc<Console>>,
    Path(store): Path<u64>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(why) = super::auth::cross_site(&headers) {
        tracing::warn!(store, reason = %why, "console: an action was refused");
        return error_page(StatusCode::FORBIDDEN, &format!("refused: {why}"));
    }
    let Some((session_id, session)) = console.auth.session(&headers) else {
        tracing::warn!(store, "console: an action without a session was refused");
        return error_page(
            StatusCode::UNAUTHORIZED,
            "refused: sign in first (the session has ended, or this browser never signed in)",
        );
    };
    let form = Form(form_urlencoded::parse(&body).into_owned().collect());
    if form.first("form_token") != Some(session.form_token.as_str()) {
        tracing::warn!(
            store,
            "console: an action with a wrong form token was refused"
        );
        return error_page(
            StatusCode::FORBIDDEN,
            "refused: the form did not come from this console's page; reload the page and try again",
        );
    }
    let site = match console.site(store) {
        Ok(site) => site,
        Err(not_kept) => return not_kept,
    };
    let back = form
        .first("back")
        .filter(|b| b.starts_with(&layout::store_url(store, "/")))
        .unwrap_or(&layout::store_url(store, "/attention"))
        .to_string();
    let action = match action_of(&form) {
        Ok(a) => a,
        Err(why) => {
            console
                .auth
                .set_flash(&session_id, format!("Nothing done: {why}."));
            return back_to(&back);
        }
    };
    let reason = form
        .first("reason")
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_string);
    let path = site.mirror.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let mut conn = crate::mirror::open_existing(&path).map_err(|e| error_chain(&e))?;
        let actor = Actor {
            name: "console".to_string(),
            via: Via::Console,
        };
        actions::perform(&mut conn, &action, &actor, reason.as_deref()).map_err(|e| error_chain(&e))
    })
    .await
    .unwrap_or_else(|e| Err(format!("the action stopped: {e}")));
    let message = match outcome {
        Ok(done) => said(&done),
        Err(why) => format!("Nothing done: {why}"),
    };
    console.auth.set_flash(&session_id, message);
    back_to(&back)
}

/// What the action did, id by id, for the page the operator returns to.
fn said(done: &Performed) -> String {
    let each: Vec<String> = done
        .outcomes
        .iter()
        .map(|o| match &o.error {
            None => format!("{}: {}", o.target, o.outcome),
            Some(why) => format!("{}: not done: {why}", o.target),
        })
        .collect();
    format!("{}.", each.join("; "))
}

fn back_to(back: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, back.to_string())],
    )
        .into_response()
}
