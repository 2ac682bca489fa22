//! The `quarantine` table: entities whose document from Ecwid did not fit the model, kept
//! until they read again, so that no pass can forget them.

use rusqlite::{Connection, params};
use serde::Serialize;

use crate::kind::Kind;

/// How many quarantined entities of a kind `status` lists.
pub const SHOWN: usize = 5;

/// One quarantined entity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Quarantined {
    /// The mirror's key (orders: the internal id).
    pub key: i64,
    /// Names the field and its problem.
    pub error: String,
    pub first_seen: i64,
    pub last_seen: i64,
}

/// A kind's quarantine: how many, and the longest-held first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct QuarantineSummary {
    pub count: i64,
    pub first: Vec<Quarantined>,
}

/// Records `unfit` (key, error) as seen at `now` and lets `fit` go, in the caller's
/// transaction. An entity already held keeps its `first_seen`.
pub fn settle(
    conn: &Connection,
    kind: Kind,
    unfit: &[(i64, String)],
    fit: &[i64],
    now: i64,
) -> rusqlite::Result<()> {
    let mut hold = conn.prepare_cached(
        "INSERT INTO quarantine (kind, key, error, first_seen, last_seen)
         VALUES (?1, ?2, ?3, ?4, ?4)
         ON CONFLICT (kind, key) DO UPDATE SET
             error = excluded.error, last_seen = excluded.last_seen",
    )?;
    for (key, error) in unfit {
        hold.execute(params![kind.name(), key, error, now])?;
    }
    let mut release = conn.prepare_cached("DELETE FROM quarantine WHERE kind = ?1 AND key = ?2")?;
    for key in fit {
        release.execute(params![kind.name(), key])?;
    }
    Ok(())
}

/// Whether the mirror's schema has the quarantine yet (read-only commands do not migrate).
pub fn table_exists(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'quarantine')",
        [],
        |r| r.get(0),
    )
}

/// Whether `kind` has any quarantined entity.
pub fn any(conn: &Connection, kind: Kind) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM quarantine WHERE kind = ?1)")?
        .query_row([kind.name()], |r| r.get(0))
}

pub fn keys(conn: &Connection, kind: Kind) -> rusqlite::Result<Vec<i64>> {
    conn.prepare_cached("SELECT key FROM quarantine WHERE kind = ?1 ORDER BY key")?
        .query_map([kind.name()], |r| r.get(0))?
        .collect()
}

/// The count of `kind`'s quarantine and its `shown` longest-held entities.
pub fn summary(conn: &Connection, kind: Kind, shown: usize) -> rusqlite::Result<QuarantineSummary> {
    let count = conn
        .prepare_cached("SELECT count(*) FROM quarantine WHERE kind = ?1")?
        .query_row([kind.name()], |r| r.get(0))?;
    let first = conn
        .prepare_cached(
            "SELECT key, error, first_seen, last_seen FROM quarantine WHERE kind = ?1
              ORDER BY first_seen, key LIMIT ?2",
        )?
        .query_map(params![kind.name(), shown as i64], |r| {
            Ok(Quarantined {
                key: r.get(0)?,
                error: r.get(1)?,
                first_seen: r.get(2)?,
                last_seen: r.get(3)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(QuarantineSummary { count, first })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mirror() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::own_writes(&conn).unwrap();
        super::super::migrate(&mut conn, "in memory").unwrap();
        conn
    }

    #[test]
    fn an_entity_held_again_keeps_when_it_was_first_seen_and_takes_the_latest_error() {
        let conn = mirror();
        settle(
            &conn,
            Kind::Products,
            &[(7, "field `sku`: a".into())],
            &[],
            100,
        )
        .unwrap();
        settle(
            &conn,
            Kind::Products,
            &[(7, "field `sku`: b".into())],
            &[],
            200,
        )
        .unwrap();
        settle(
            &conn,
            Kind::Orders,
            &[(7, "field `total`: c".into())],
            &[],
            300,
        )
        .unwrap();

        let held = summary(&conn, Kind::Products, SHOWN).unwrap();
        assert_eq!(
            held,
            QuarantineSummary {
                count: 1,
                first: vec![Quarantined {
                    key: 7,
                    error: "field `sku`: b".into(),
                    first_seen: 100,
                    last_seen: 200,
                }],
            }
        );
        assert_eq!(keys(&conn, Kind::Orders).unwrap(), vec![7]);
    }

    #[test]
    fn a_released_entity_leaves_only_its_own_kind_and_status_lists_a_few() {
        let conn = mirror();
        let unfit: Vec<(i64, String)> = (1..=8).map(|k| (k, format!("e{k}"))).collect();
        settle(&conn, Kind::Products, &unfit, &[], 100).unwrap();
        settle(&conn, Kind::Orders, &[(3, "e".into())], &[], 100).unwrap();

        settle(&conn, Kind::Products, &[], &[3, 4], 200).unwrap();

        let held = summary(&conn, Kind::Products, SHOWN).unwrap();
        assert_eq!(held.count, 6);
        let shown: Vec<i64> = held.first.iter().map(|q| q.key).collect();
        assert_eq!(shown, vec![1, 2, 5, 6, 7]);
        assert_eq!(keys(&conn, Kind::Orders).unwrap(), vec![3]);
    }
}
