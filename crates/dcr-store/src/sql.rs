//! What the paths that run one statement share, so that its text and its column list exist once.
//!
//! A statement the group commits run is executed three ways: through sqlx (either backend), by
//! rusqlite in SQLite's batch, and, for PostgreSQL's batch, as the array arguments of a PL/pgSQL
//! function. One text serves the first two: SQLite reads `$1` as a parameter named `$1`,
//! numbered by its first appearance, so a text whose placeholders appear in order binds the same
//! by position in rusqlite as by number in sqlx. An INSERT is written as a list of [`Column`]s,
//! each a name, a type and the value it takes from the row's source; its text ([`insert`]) and
//! every binding (sqlx, rusqlite, PostgreSQL's arrays) follow that list.

use std::borrow::Cow;

use rusqlite::types::{ToSqlOutput, ValueRef};
use sqlx::query::Query;
use sqlx::{Database, Encode, Type};

/// A column of an INSERT and where its value comes from.
pub(crate) struct Column<T> {
    /// The column's name.
    pub(crate) name: &'static str,
    /// Its value for one row.
    pub(crate) get: Get<T>,
}

/// How a column's value is read from a row's source, by the column's type.
pub(crate) enum Get<T> {
    /// Text, or NULL.
    Text(for<'a> fn(&'a T) -> Option<Cow<'a, str>>),
    /// A 64-bit integer.
    Int(fn(&T) -> i64),
}

impl<T> Column<T> {
    /// A text column.
    pub(crate) const fn text(
        name: &'static str,
        get: for<'a> fn(&'a T) -> Option<Cow<'a, str>>,
    ) -> Self {
        Self {
            name,
            get: Get::Text(get),
        }
    }

    /// An integer column.
    pub(crate) const fn int(name: &'static str, get: fn(&T) -> i64) -> Self {
        Self {
            name,
            get: Get::Int(get),
        }
    }

    /// The column's value for `row`.
    pub(crate) fn value<'a>(&self, row: &'a T) -> Value<'a> {
        match self.get {
            Get::Text(get) => Value::Text(get(row)),
            Get::Int(get) => Value::Int(get(row)),
        }
    }
}

/// Text that is never NULL, for [`Column::text`].
pub(crate) fn text(s: &str) -> Option<Cow<'_, str>> {
    Some(Cow::Borrowed(s))
}

/// Text or NULL, for [`Column::text`].
pub(crate) fn opt_text(s: Option<&str>) -> Option<Cow<'_, str>> {
    s.map(Cow::Borrowed)
}

/// A value bound by rusqlite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value<'a> {
    /// Text, or NULL.
    Text(Option<Cow<'a, str>>),
    /// A 64-bit integer.
    Int(i64),
}

/// `$1, $2, ..., $n`.
pub(crate) fn placeholders(n: usize) -> String {
    (1..=n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `INSERT INTO table (a, b, ...) VALUES ($1, $2, ...)`, in the order of `columns`.
pub(crate) fn insert<T>(table: &str, columns: &[Column<T>]) -> String {
    let names = columns
        .iter()
        .map(|c| c.name)
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "INSERT INTO {table} ({names}) VALUES ({})",
        placeholders(columns.len())
    )
}

/// Binds the values of `row`, in the order of `columns`, to a sqlx query.
pub(crate) fn bind_row<'q, DB, T>(
    mut query: Query<'q, DB, <DB as Database>::Arguments<'q>>,
    columns: &[Column<T>],
    row: &'q T,
) -> Query<'q, DB, <DB as Database>::Arguments<'q>>
where
    DB: Database,
    Option<Cow<'q, str>>: Encode<'q, DB> + Type<DB>,
    i64: Encode<'q, DB> + Type<DB>,
{
    for column in columns {
        query = match column.get {
            Get::Text(get) => query.bind(get(row)),
            Get::Int(get) => query.bind(get(row)),
        };
    }
    query
}

/// The values of `row`, in the order of `columns`, for rusqlite.
pub(crate) fn row_params<'a, T>(
    columns: &'a [Column<T>],
    row: &'a T,
) -> rusqlite::ParamsFromIter<impl Iterator<Item = Value<'a>>> {
    rusqlite::params_from_iter(columns.iter().map(move |c| c.value(row)))
}

impl rusqlite::ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Self::Text(Some(s)) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Self::Text(None) => ToSqlOutput::Borrowed(ValueRef::Null),
            Self::Int(n) => ToSqlOutput::Borrowed(ValueRef::Integer(*n)),
        })
    }
}

/// `WITH added AS (INSERT INTO table (...) SELECT * FROM UNNEST(...)) SELECT count(*)`: one
/// array argument per column, `$1` onwards, cast to the column's type, answering how many rows
/// it inserted. `extra` are further columns (name, array type) after `columns`.
pub(crate) fn insert_unnest<T>(
    table: &str,
    columns: &[Column<T>],
    extra: &[(&str, &str)],
) -> String {
    let types = columns
        .iter()
        .map(|c| match c.get {
            Get::Text(_) => "text",
            Get::Int(_) => "bigint",
        })
        .chain(extra.iter().map(|(_, t)| *t));
    let names: Vec<&str> = columns
        .iter()
        .map(|c| c.name)
        .chain(extra.iter().map(|(n, _)| *n))
        .collect();
    let arrays: Vec<String> = types
        .enumerate()
        .map(|(i, t)| format!("${}::{t}[]", i + 1))
        .collect();
    format!(
        "WITH added AS (INSERT INTO {table} ({}) SELECT * FROM UNNEST({}) RETURNING 1) \
         SELECT count(*) FROM added",
        names.join(", "),
        arrays.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Pair {
        a: String,
        b: i64,
    }

    const PAIR: [Column<Pair>; 2] = [Column::text("a", |p| text(&p.a)), Column::int("b", |p| p.b)];

    #[test]
    fn one_text_binds_alike_through_rusqlite_and_sqlx() {
        let sql = insert("t", &PAIR);
        assert_eq!(sql, "INSERT INTO t (a, b) VALUES ($1, $2)");
        // rusqlite binds `$n` by position (the order of first appearance).
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (a TEXT, b INTEGER)")
            .unwrap();
        let row = Pair {
            a: "x".into(),
            b: 7,
        };
        conn.prepare(&sql)
            .unwrap()
            .execute(row_params(&PAIR, &row))
            .unwrap();
        let back: (String, i64) = conn
            .query_row("SELECT a, b FROM t", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap();
        assert_eq!(back, ("x".to_string(), 7));
        // NULL text.
        assert_eq!(
            rusqlite::ToSql::to_sql(&Value::Text(None)).unwrap(),
            ToSqlOutput::Borrowed(ValueRef::Null)
        );
    }
}
