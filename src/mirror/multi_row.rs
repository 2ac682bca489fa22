//! Statements that write or remove many rows at once.
//!
//! Every statement the daemon runs inside a transaction keeps a statement journal: a copy of
//! each page it changes that existed when it began, so that it can be undone alone. The
//! mirror's tables carry triggers, so SQLite cannot do without it. Written one row at a time,
//! a page of 100 products with 300 variations copied the same few leaf pages (the last one of
//! each table and index) over a thousand times, past the 64 KB SQLite keeps in memory into
//! temporary files, and ran as many statements with their triggers' setup; one statement per
//! chunk of rows copies each page once.

use std::cell::RefCell;
use std::collections::HashMap;

use rusqlite::types::ToSql;
use rusqlite::{Row, Statement, Transaction};

/// The most rows one statement takes; larger sets run as several. Chunks are cut in powers
/// of two, so each table needs at most a handful of distinct (cached) statements.
const MAX_CHUNK: usize = 64;

/// Runs `head` followed by one `row` template per item of `items`, `MAX_CHUNK` items at a
/// time. `row` numbers its parameters `?1`..`?n` for one item; `bind` gives their values.
/// Returns the rows changed.
pub fn execute<T, const N: usize>(
    tx: &Transaction,
    head: &'static str,
    row: &'static str,
    items: &[T],
    bind: impl Fn(&T) -> [&dyn ToSql; N],
) -> rusqlite::Result<usize> {
    let mut changed = 0;
    for chunk in chunks(items) {
        let mut stmt = with_statement((head, row, ""), N, chunk.len(), |sql| {
            tx.prepare_cached(sql)
        })?;
        bind_all(&mut stmt, chunk, &bind)?;
        changed += stmt.raw_execute()?;
    }
    Ok(changed)
}

/// Runs `head`, which ends in `IN (`, with the list of `keys`, in chunks.
pub fn execute_in(tx: &Transaction, head: &'static str, keys: &[i64]) -> rusqlite::Result<usize> {
    let mut changed = 0;
    for chunk in chunks(keys) {
        let mut stmt = with_statement((head, "?1", ")"), 1, chunk.len(), |sql| {
            tx.prepare_cached(sql)
        })?;
        bind_all(&mut stmt, chunk, &|k: &i64| [k as &dyn ToSql])?;
        changed += stmt.raw_execute()?;
    }
    Ok(changed)
}

/// Runs the query `head`, one `row` template per item and `tail`, in chunks as [`execute`]
/// does, and maps every result row with `map`.
pub fn query<T, R, const N: usize>(
    tx: &Transaction,
    (head, row, tail): (&'static str, &'static str, &'static str),
    items: &[T],
    bind: impl Fn(&T) -> [&dyn ToSql; N],
    map: impl Fn(&Row) -> rusqlite::Result<R>,
) -> rusqlite::Result<Vec<R>> {
    let mut out = Vec::new();
    for chunk in chunks(items) {
        let mut stmt = with_statement((head, row, tail), N, chunk.len(), |sql| {
            tx.prepare_cached(sql)
        })?;
        bind_all(&mut stmt, chunk, &bind)?;
        let mut rows = stmt.raw_query();
        while let Some(r) = rows.next()? {
            out.push(map(r)?);
        }
    }
    Ok(out)
}

/// Runs the query `head`, which ends in `IN (`, with the list of `keys`, in chunks, and
/// maps every result row with `map`.
pub fn query_in<R>(
    tx: &Transaction,
    head: &'static str,
    keys: &[i64],
    map: impl Fn(&Row) -> rusqlite::Result<R>,
) -> rusqlite::Result<Vec<R>> {
    query(tx, (head, "?1", ")"), keys, |k| [k as &dyn ToSql], map)
}

/// `items` cut in chunks of the sizes [`execute`] uses.
fn chunks<T>(items: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = items;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (chunk, after) = rest.split_at(chunk_size(rest.len()));
        rest = after;
        Some(chunk)
    })
}

/// The largest power of two up to `MAX_CHUNK` that is not more than `left`.
fn chunk_size(left: usize) -> usize {
    let size = left.min(MAX_CHUNK);
    1 << (usize::BITS - 1 - size.leading_zeros())
}

fn bind_all<T, const N: usize>(
    stmt: &mut Statement,
    chunk: &[T],
    bind: &impl Fn(&T) -> [&dyn ToSql; N],
) -> rusqlite::Result<()> {
    for (i, item) in chunk.iter().enumerate() {
        for (j, value) in bind(item).into_iter().enumerate() {
            stmt.raw_bind_parameter(i * N + j + 1, value)?;
        }
    }
    Ok(())
}

/// A statement's parts, and how many rows it takes.
type StatementKey = (&'static str, &'static str, &'static str, usize);

thread_local! {
    /// The text of each statement built, by its parts: rusqlite's cache finds a prepared
    /// statement by its text, and building a text of 64 rows for every chunk cost as much
    /// as running it.
    static TEXTS: RefCell<HashMap<StatementKey, String>> =
        RefCell::new(HashMap::new());
}

/// Calls `f` with the text of [`statement`], built once per thread.
fn with_statement<R>(
    (head, row, tail): (&'static str, &'static str, &'static str),
    n: usize,
    count: usize,
    f: impl FnOnce(&str) -> R,
) -> R {
    TEXTS.with(|texts| {
        let mut texts = texts.borrow_mut();
        let text = texts
            .entry((head, row, tail, count))
            .or_insert_with(|| statement(head, row, n, count, tail));
        f(text)
    })
}

/// `head`, `count` copies of `row` (the parameters of copy `i` renumbered by `i * n`), and
/// `tail`.
fn statement(head: &str, row: &str, n: usize, count: usize, tail: &str) -> String {
    let mut sql = String::from(head);
    for i in 0..count {
        if i > 0 {
            sql.push_str(", ");
        }
        renumber_into(&mut sql, row, i * n);
    }
    sql.push_str(tail);
    sql
}

/// Copies `template` into `out` with every `?k` written as `?{k + offset}`.
fn renumber_into(out: &mut String, template: &str, offset: usize) {
    let mut rest = template;
    while let Some(at) = rest.find('?') {
        out.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let k: usize = rest[..digits].parse().expect("numbered parameter");
        out.push_str(&(k + offset).to_string());
        rest = &rest[digits..];
    }
    out.push_str(rest);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_powers_of_two_up_to_the_maximum() {
        let sizes = |n: usize| {
            chunks(&vec![0; n])
                .map(<[i32]>::len)
                .collect::<Vec<usize>>()
        };
        assert_eq!(sizes(0), Vec::<usize>::new());
        assert_eq!(sizes(1), vec![1]);
        assert_eq!(sizes(7), vec![4, 2, 1]);
        assert_eq!(sizes(300), vec![64, 64, 64, 64, 32, 8, 4]);
    }

    #[test]
    fn each_row_gets_its_own_parameters() {
        assert_eq!(
            statement("INSERT INTO t VALUES ", "(?1, ?2 + ?1)", 2, 3, ""),
            "INSERT INTO t VALUES (?1, ?2 + ?1), (?3, ?4 + ?3), (?5, ?6 + ?5)"
        );
    }

    #[test]
    fn rows_are_written_and_removed_in_chunks() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
            .unwrap();
        let tx = conn.transaction().unwrap();
        let rows: Vec<(i64, String)> = (0..100).map(|i| (i, format!("v{i}"))).collect();
        let written = execute(&tx, "INSERT INTO t VALUES ", "(?1, ?2)", &rows, |r| {
            [&r.0 as &dyn ToSql, &r.1]
        })
        .unwrap();
        assert_eq!(written, 100);
        let keys: Vec<i64> = (0..100).filter(|k| k % 3 == 0).collect();
        assert_eq!(
            execute_in(&tx, "DELETE FROM t WHERE id IN (", &keys).unwrap(),
            34
        );
        let left: i64 = tx
            .query_row("SELECT count(*) FROM t WHERE v = 'v' || id", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(left, 66);
    }
}
