//! A full pull's progress, committed with each of its pages, so that an interrupted full pull
//! resumes at the page after the last one committed. At 600 requests a minute a large store
//! takes minutes per full pull; starting again from page 1 after every stop would waste them.

use rusqlite::{Connection, OptionalExtension, params};

use crate::kind::Kind;

/// A step of a full pull, recorded in the transaction of the work it describes.
#[derive(Clone, Debug)]
pub enum FullStep {
    /// A new full pull, begun when the store's clock read `read_at`; forgets any earlier one.
    Begin { read_at: i64 },
    /// A page of the listing was committed.
    Page {
        offset: u64,
        next_offset: u64,
        total: u64,
        newest: Option<i64>,
        keys: Vec<i64>,
    },
    /// The full pull finished.
    End,
}

/// A full pull that was interrupted, as recorded.
#[derive(Clone, Debug, Default)]
pub struct FullProgress {
    pub read_at: i64,
    pub started_at: i64,
    pub next_offset: u64,
    pub first_total: Option<u64>,
    pub newest: Option<i64>,
    /// Every key its committed pages returned.
    pub seen: Vec<i64>,
    pub pages: u64,
}

pub fn record(conn: &Connection, kind: Kind, step: &FullStep, now: i64) -> rusqlite::Result<()> {
    match step {
        FullStep::Begin { read_at } => {
            forget(conn, kind)?;
            conn.prepare_cached(
                "INSERT INTO full_pull_progress (kind, read_at, started_at) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![kind.name(), read_at, now])?;
        }
        FullStep::Page {
            offset,
            next_offset,
            total,
            newest,
            keys,
        } => {
            let keys = serde_json::to_string(keys).expect("keys serialize");
            conn.prepare_cached(
                "INSERT OR REPLACE INTO full_pull_pages (kind, page_offset, keys) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![kind.name(), *offset as i64, keys])?;
            conn.prepare_cached(
                "UPDATE full_pull_progress SET
                     next_offset = max(next_offset, ?2),
                     first_total = coalesce(first_total, ?3),
                     newest = max(coalesce(newest, ?4), ?4)
                 WHERE kind = ?1",
            )?
            .execute(params![
                kind.name(),
                *next_offset as i64,
                *total as i64,
                newest
            ])?;
        }
        FullStep::End => forget(conn, kind)?,
    }
    Ok(())
}

fn forget(conn: &Connection, kind: Kind) -> rusqlite::Result<()> {
    conn.prepare_cached("DELETE FROM full_pull_progress WHERE kind = ?1")?
        .execute([kind.name()])?;
    conn.prepare_cached("DELETE FROM full_pull_pages WHERE kind = ?1")?
        .execute([kind.name()])?;
    Ok(())
}

/// The interrupted full pull of `kind`, if one was recorded.
pub fn read(conn: &Connection, kind: Kind) -> rusqlite::Result<Option<FullProgress>> {
    let progress = conn
        .prepare_cached(
            "SELECT read_at, started_at, next_offset, first_total, newest
               FROM full_pull_progress WHERE kind = ?1",
        )?
        .query_row([kind.name()], |r| {
            Ok(FullProgress {
                read_at: r.get(0)?,
                started_at: r.get(1)?,
                next_offset: r.get::<_, i64>(2)? as u64,
                first_total: r.get::<_, Option<i64>>(3)?.map(|t| t as u64),
                newest: r.get(4)?,
                ..Default::default()
            })
        })
        .optional()?;
    let Some(mut progress) = progress else {
        return Ok(None);
    };
    let mut pages = conn.prepare_cached("SELECT keys FROM full_pull_pages WHERE kind = ?1")?;
    for keys in pages.query_map([kind.name()], |r| r.get::<_, String>(0))? {
        // The daemon wrote these; a page that does not parse is treated as never listed, so
        // its keys are looked up by id at the end instead.
        if let Ok(keys) = serde_json::from_str::<Vec<i64>>(&keys?) {
            progress.seen.extend(keys);
        }
        progress.pages += 1;
    }
    Ok(Some(progress))
}
