//! Reading documents from Ecwid: one search page, or a set of entities by key.

use std::collections::HashSet;

use serde_json::value::RawValue;

use super::{Kind, PullError};
use crate::ecwid::model::{DeletedItem, Page, parse_date};
use crate::ecwid::{ApiError, Client};
use crate::mirror::apply::{Rows, Unreadable, key_of};

/// The API's largest page, always asked for explicitly (defaults differ per endpoint).
pub const PAGE_SIZE: u64 = 100;

pub struct FetchedPage {
    pub total: u64,
    pub count: u64,
    pub rows: Rows,
    pub unreadable: Vec<Unreadable>,
}

/// The query of one page of `kind`'s stably ordered listing, with `extra` parameters.
fn listing_query<'a>(
    kind: Kind,
    offset: u64,
    extra: &[(&'a str, String)],
) -> Vec<(&'a str, String)> {
    let mut query: Vec<(&str, String)> = vec![
        ("limit", PAGE_SIZE.to_string()),
        ("offset", offset.to_string()),
    ];
    query.extend(
        kind.listing_params()
            .iter()
            .map(|(k, v)| (*k, v.to_string())),
    );
    query.extend(extra.iter().cloned());
    query
}

/// One page of `kind`'s search, parsed into rows. Runs in the fetching task, so pages
/// fetched ahead are also parsed ahead, in parallel with the mirror writing earlier ones.
pub async fn search_page(
    client: &Client,
    kind: Kind,
    offset: u64,
    filter: &[(&'static str, String)],
) -> Result<FetchedPage, PullError> {
    let body = client
        .get_bytes(kind.search_path(), &listing_query(kind, offset, filter))
        .await?;
    let page: Page =
        serde_json::from_slice(&body).map_err(|source| PullError::Document { kind, source })?;
    let (rows, unreadable) = Rows::parse(kind, &page.items);
    Ok(FetchedPage {
        total: page.total,
        count: page.count.max(page.items.len() as u64),
        rows,
        unreadable,
    })
}

/// One page of a sweep: the keys of a search page, read without the documents.
pub struct SweptPage {
    pub total: u64,
    pub count: u64,
    pub keys: Vec<i64>,
}

/// One page of `kind`'s complete listing with only the fields that identify and date each
/// entity (`responseFields`, contract 17.6).
pub async fn sweep_page(client: &Client, kind: Kind, offset: u64) -> Result<SweptPage, PullError> {
    let fields = [("responseFields", kind.sweep_fields().to_string())];
    let body = client
        .get_bytes(kind.search_path(), &listing_query(kind, offset, &fields))
        .await?;
    let page: Page =
        serde_json::from_slice(&body).map_err(|source| PullError::Document { kind, source })?;
    let keys: Vec<i64> = page
        .items
        .iter()
        .filter_map(|raw| key_of(kind, raw))
        .collect();
    if keys.len() < page.items.len() {
        tracing::warn!(
            kind = kind.name(),
            unreadable = page.items.len() - keys.len(),
            "a sweep page held entities without a readable key"
        );
    }
    Ok(SweptPage {
        total: page.total,
        count: page.count.max(page.items.len() as u64),
        keys,
    })
}

/// What reading a set of entities by key found.
pub struct ByKeys {
    /// The entities Ecwid still has.
    pub rows: Rows,
    /// Entities that exist but do not fit the model.
    pub unreadable: Vec<Unreadable>,
    /// Id-list requests that Ecwid answered with entities not asked for, i.e. it ignored
    /// the filter; their keys were then read one by one.
    pub ignored_filters: u64,
    /// Requests sent (retries of a failed request not counted).
    pub requests: u64,
}

/// An entity to read by id: its mirror key, or, for an order known only by it, its public
/// string id (webhooks of unfinished orders on newer stores name no internal id).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntityRef {
    Key(i64),
    OrderId(String),
}

impl EntityRef {
    /// How the id appears in an id list and in the path of a single read.
    fn as_param(&self) -> String {
        match self {
            EntityRef::Key(key) => key.to_string(),
            EntityRef::OrderId(id) => id.clone(),
        }
    }
}

/// The entities among `keys` that Ecwid still has. Kinds with an id-list filter are read
/// 100 keys a request; customers, which have none, one by one. An id-list answer is trusted
/// only when it holds nothing but keys asked for: an answer with others means the filter was
/// ignored, so absence from it proves nothing, and those keys are read one by one instead,
/// where only a 404 counts as gone (contract 17.1).
pub async fn by_keys(client: &Client, kind: Kind, keys: &[i64]) -> Result<ByKeys, PullError> {
    let refs: Vec<EntityRef> = keys.iter().copied().map(EntityRef::Key).collect();
    by_refs(client, kind, &refs).await
}

/// [`by_keys`] for entities named by key or (orders) by public id, mixed in one id list
/// (`ids=` takes both).
pub async fn by_refs(client: &Client, kind: Kind, refs: &[EntityRef]) -> Result<ByKeys, PullError> {
    let mut found = ByKeys {
        rows: Rows::empty(kind),
        unreadable: Vec::new(),
        ignored_filters: 0,
        requests: 0,
    };
    let Some(param) = kind.id_list_param() else {
        read_one_by_one(client, kind, refs, &mut found).await?;
        return Ok(found);
    };
    for chunk in refs.chunks(PAGE_SIZE as usize) {
        let list = chunk
            .iter()
            .map(EntityRef::as_param)
            .collect::<Vec<_>>()
            .join(",");
        let page = search_page(client, kind, 0, &[(param, list)]).await?;
        found.requests += 1;
        if page.total > chunk.len() as u64 || !only_asked_for(chunk, &page) {
            tracing::warn!(
                kind = kind.name(),
                param,
                keys = chunk.len(),
                "Ecwid ignored the id-list filter; reading these keys one by one"
            );
            found.ignored_filters += 1;
            read_one_by_one(client, kind, chunk, &mut found).await?;
        } else {
            found.rows.append(page.rows);
            found.unreadable.extend(page.unreadable);
        }
    }
    Ok(found)
}

/// Whether every entity of an id-list answer is one that `asked` names, by key or by
/// public order id.
fn only_asked_for(asked: &[EntityRef], page: &FetchedPage) -> bool {
    let keys: HashSet<i64> = asked
        .iter()
        .filter_map(|r| match r {
            EntityRef::Key(key) => Some(*key),
            EntityRef::OrderId(_) => None,
        })
        .collect();
    let order_ids: HashSet<&str> = asked
        .iter()
        .filter_map(|r| match r {
            EntityRef::OrderId(id) => Some(id.as_str()),
            EntityRef::Key(_) => None,
        })
        .collect();
    let by_public_id: HashSet<i64> = page
        .rows
        .order_ids()
        .into_iter()
        .filter(|(_, id)| order_ids.contains(id))
        .map(|(key, _)| key)
        .collect();
    page.rows
        .keys()
        .into_iter()
        .chain(page.unreadable.iter().filter_map(|u| u.key))
        .all(|k| keys.contains(&k) || by_public_id.contains(&k))
}

/// Reads each entity with its own request; a 404 means the entity is gone.
async fn read_one_by_one(
    client: &Client,
    kind: Kind,
    refs: &[EntityRef],
    found: &mut ByKeys,
) -> Result<(), PullError> {
    for entity in refs {
        let path = format!("{}/{}", kind.search_path(), entity.as_param());
        found.requests += 1;
        match client.get_bytes(&path, &[]).await {
            Ok(body) => {
                let raw: &RawValue = serde_json::from_slice(&body)
                    .map_err(|source| PullError::Document { kind, source })?;
                let (parsed, bad) = Rows::parse(kind, &[raw]);
                found.rows.append(parsed);
                found.unreadable.extend(bad);
            }
            Err(ApiError::Status { status: 404, .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
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
