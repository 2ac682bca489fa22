//! Deleted-items endpoints (snake-case `from_date` / `to_date`), within the retention.

use std::sync::Arc;

use serde_json::json;

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

/// `latest-stats`, immediate (not behind the search index); the counts on request are of
/// all products (enabled or not) and all categories.
pub fn latest_stats(app: &Arc<App>, q: &Query) -> ApiResult<Reply> {
    let (products, categories) = (
        q.bool("productCountRequired")?.unwrap_or(false),
        q.bool("categoryCountRequired")?.unwrap_or(false),
    );
    let (product_field, category_field) = app.faults.count_names().fields();
    let store = app.read();
    let mut stats = store.latest_stats_json();
    if products {
        stats[product_field] = json!(store.products.len());
    }
    if categories {
        stats[category_field] = json!(store.categories.len());
    }
    Ok(Reply::json(&stats))
}
