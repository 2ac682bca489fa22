// TEMPORARY STUB (replaced by the query branch)
use rusqlite::Connection;
pub enum Via {
    Cli,
    Console,
}
pub struct Actor {
    pub name: String,
    pub via: Via,
}
pub enum Action {
    Resend { ids: Vec<i64> },
    MarkApplied { ids: Vec<i64> },
    DismissChanges { ids: Vec<i64> },
    TakeLocal { ids: Vec<i64> },
    TakeRemote { ids: Vec<i64> },
}
pub struct Outcome {
    pub target: String,
    pub outcome: String,
    pub error: Option<String>,
}
pub struct Performed {
    pub outcomes: Vec<Outcome>,
}
#[derive(Debug, thiserror::Error)]
#[error("x")]
pub struct ActionError;
pub fn perform(
    _c: &mut Connection,
    _a: &Action,
    _b: &Actor,
    _r: Option<&str>,
) -> Result<Performed, ActionError> {
    Err(ActionError)
}
