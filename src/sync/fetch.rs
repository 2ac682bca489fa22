//! Reading documents from Ecwid: one search page, or a set of entities by key.

use std::collections::HashSet;

use serde_json::value::RawValue;

use super::{Kind, PullError};
use crate::ecwid::model::{DeletedItem, Page, parse_date};
use crate::ecwid::{ApiError, Client};
use crate::mirror::apply::{Rows, Unreadable};

/// The API's largest page, always asked for explicitly (defaults differ per endpoint).
pub const PAGE_SIZE: u64 = 100;

pub struct FetchedPage {
    pub total: u64,
    pub count: u64,
    pub rows: Rows,
    pub unreadable: Vec<Unreadable>,
}

/// One page of `kind`'s search, parsed into rows. Runs in the fetching task, so pages
/// fetched ahead are also parsed ahead, in parallel with the mirror writing earlier ones.
pub async fn search_page(
    client: &Client,
    kind: Kind,
    offset: u64,
    filter: &[(&'static str, String)],
) -> Result<FetchedPage, PullError> {
    let mut query: Vec<(&str, String)> = vec![
        ("limit", PAGE_SIZE.to_string()),
        ("offset", offset.to_string()),
    ];
    query.extend(
        kind.listing_params()
            .iter()
            .map(|(k, v)| (*k, v.to_string())),
    );
    query.extend(filter.iter().cloned());
    let body = client.get_bytes(kind.search_path(), &query).await?;
    let page: Page =
        serde_json::from_slice(&body).map_err(|source| PullError::Document { kind, source })?;
    let (rows, unreadable) = Rows::parse(kind, &page.items)?;
    Ok(FetchedPage {
        total: page.total,
        count: page.count.max(page.items.len() as u64),
        rows,
        unreadable,
    })
}

/// The entities among `keys` that Ecwid still has, with those that exist but do not fit the
/// model. Products and orders are read 100 keys a request through the search's id list;
/// categories and customers have no such filter and are read one by one (this is used for a
/// handful of keys at a time).
pub async fn by_keys(
    client: &Client,
    kind: Kind,
    keys: &[i64],
) -> Result<(Rows, Vec<Unreadable>), PullError> {
    let mut rows = Rows::empty(kind);
    let mut unreadable = Vec::new();
    match kind.id_list_param() {
        Some(param) => {
            for chunk in keys.chunks(PAGE_SIZE as usize) {
                let list = chunk
                    .iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(",");
                let page = search_page(client, kind, 0, &[(param, list)]).await?;
                rows.append(page.rows);
                unreadable.extend(page.unreadable);
            }
        }
        None => {
            for key in keys {
                let path = format!("{}/{key}", kind.search_path());
                match client.get_bytes(&path, &[]).await {
                    Ok(body) => {
                        let raw: &RawValue = serde_json::from_slice(&body)
                            .map_err(|source| PullError::Document { kind, source })?;
                        let (parsed, bad) = Rows::parse(kind, &[raw])?;
                        rows.append(parsed);
                        unreadable.extend(bad);
                    }
                    Err(ApiError::Status { status: 404, .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    Ok((rows, unreadable))
}

/// Entries of the store's deletion list of `kind` from `from` (unix seconds) on.
pub struct Deleted {
    pub keys: HashSet<i64>,
    /// The newest deletion date listed.
    pub newest: Option<i64>,
    pub pages: u64,
}

/// Reads `kind`'s whole deletion list from `from` on; `None` for kinds Ecwid keeps no such
/// list of (categories).
pub async fn deleted_since(
    client: &Client,
    kind: Kind,
    from: i64,
) -> Result<Option<Deleted>, PullError> {
    let Some(path) = kind.deleted_path() else {
        return Ok(None);
    };
    let mut deleted = Deleted {
        keys: HashSet::new(),
        newest: None,
        pages: 0,
    };
    let mut offset = 0;
    loop {
        let query = [
            ("from_date", from.max(0).to_string()),
            ("limit", PAGE_SIZE.to_string()),
            ("offset", offset.to_string()),
        ];
        let body = client.get_bytes(path, &query).await?;
        let page: Page =
            serde_json::from_slice(&body).map_err(|source| PullError::Document { kind, source })?;
        for raw in &page.items {
            let item: DeletedItem = serde_json::from_str(raw.get())
                .map_err(|source| PullError::Document { kind, source })?;
            deleted.newest = deleted.newest.max(parse_date(&item.date));
            deleted.keys.insert(item.id);
        }
        deleted.pages += 1;
        offset += page.items.len() as u64;
        if page.items.is_empty() || offset >= page.total {
            return Ok(Some(deleted));
        }
    }
}
