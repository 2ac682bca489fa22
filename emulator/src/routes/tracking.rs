//! Deleted-items endpoints (snake-case `from_date` / `to_date`), within the retention.

use std::sync::Arc;

use super::Reply;
use crate::app::App;
use crate::error::ApiResult;
use crate::query::Query;
use crate::store::DeletedKind;

pub fn deleted(app: &Arc<App>, q: &Query, kind: DeletedKind) -> ApiResult<Reply> {
    let from = q.date("from_date")?;
    let to = q.date("to_date")?;
    let (offset, limit) = q.paging(100)?;
    let retention = i64::try_from(app.config.deleted_retention_secs).unwrap_or(i64::MAX);
    let kept_from = crate::dates::now().saturating_sub(retention);
    Ok(Reply::bytes(
        app.read()
            .deleted_page(kind, from, to, kept_from, offset, limit)
            .to_bytes(),
    ))
}
