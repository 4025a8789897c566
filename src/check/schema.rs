//! The `schema` check: `users` and `tokens` read back from the live
//! catalog (columns and their types, nullability and defaults; indexes
//! and their names; constraints, the foreign key's name and deferral) and
//! compared with what Django's migration makes ([`super::expected`]).

use crate::db::{Database, DbError, InspectRow};

use super::expected::{expected, statements, Facts};
use super::{db_fail, Kind, Report, Status};

const TABLES: [&str; 2] = ["users", "tokens"];
/// Differences shown on the line; the rest are counted.
const SHOWN: usize = 3;

pub(crate) async fn check(db: &Database, kind: Kind, report: &mut Report) {
    match differences(db, kind).await {
        Ok(diffs) if diffs.is_empty() => report.line(
            Status::Ok,
            "schema",
            "users and tokens are exactly as Django's migration makes them (columns, types, constraints, index names)",
        ),
        Ok(diffs) => {
            let mut detail = diffs.iter().take(SHOWN).cloned().collect::<Vec<_>>().join("; ");
            if diffs.len() > SHOWN {
                detail.push_str(&format!(" (and {} more)", diffs.len() - SHOWN));
            }
            report.line(Status::Fail, "schema", detail)
        }
        Err(e) => db_fail(report, "schema", e),
    }
}

/// Every difference from Django's schema, one sentence each.
pub(crate) async fn differences(db: &Database, kind: Kind) -> Result<Vec<String>, DbError> {
    let mut missing = Vec::new();
    for table in TABLES {
        if !kind.has_table(db, table).await? {
            missing.push(format!("table {table} does not exist (run Django's migrate or ledger-server migrate)"));
        }
    }
    if !missing.is_empty() {
        return Ok(missing);
    }
    let found = read(db, kind).await?;
    let mut diffs = compare(&expected(kind), &found);
    if diffs.is_empty() && kind == Kind::Sqlite {
        diffs = compare(&statements(), &read_statements(db).await?);
    }
    Ok(diffs)
}

/// What differs between `expected` and `found`, as sentences.
pub(crate) fn compare(expected: &Facts, found: &Facts) -> Vec<String> {
    // columns (`users.email`) first, then indexes and constraints
    let mut diffs: Vec<(bool, String)> = Vec::new();
    for (key, want) in expected {
        match found.get(key) {
            None => diffs.push((key.contains(' '), format!("{key} is missing, Django's migration makes {want}"))),
            Some(got) if got != want => {
                diffs.push((key.contains(' '), format!("{key} is {got}, Django's migration makes {want}")))
            }
            Some(_) => {}
        }
    }
    for (key, got) in found {
        if !expected.contains_key(key) {
            diffs.push((key.contains(' '), format!("{key} ({got}) is not in Django's migration")));
        }
    }
    diffs.sort_by_key(|(not_column, _)| *not_column);
    diffs.into_iter().map(|(_, d)| d).collect()
}

fn in_tables() -> String {
    TABLES.map(|t| format!("'{t}'")).join(", ")
}

async fn rows(db: &Database, sql: String) -> Result<Vec<InspectRow>, DbError> {
    db.inspect(sql).await
}

/// The live catalog, in the form of [`expected`].
async fn read(db: &Database, kind: Kind) -> Result<Facts, DbError> {
    let mut facts = Facts::new();
    match kind {
        Kind::Sqlite => {
            for table in TABLES {
                let sql = format!(
                    "SELECT {} FROM pragma_table_info('{table}')",
                    kind.select(&["name", "type", "\"notnull\"", "pk", "dflt_value"])
                );
                for r in rows(db, sql).await? {
                    let mut d = format!("{} {}", r.get(1), if r.get(2) == "1" { "NOT NULL" } else { "NULL" });
                    if r.get(3) != "0" {
                        d.push_str(" PRIMARY KEY");
                    }
                    if !r.is_null(4) {
                        d.push_str(&format!(" DEFAULT {}", r.get(4)));
                    }
                    facts.insert(format!("{table}.{}", r.get(0)), d);
                }
                let sql = format!(
                    "SELECT {} FROM pragma_index_list('{table}') AS il, pragma_index_info(il.name) AS ii \
                     GROUP BY il.name ORDER BY il.name",
                    kind.select(&["il.name", "il.\"unique\"", "group_concat(ii.name, ', ')"])
                );
                for r in rows(db, sql).await? {
                    let unique = if r.get(1) == "1" { "UNIQUE " } else { "" };
                    facts.insert(format!("index {}", r.get(0)), format!("{unique}({})", r.get(2)));
                }
                let sql = format!(
                    "SELECT {} FROM pragma_foreign_key_list('{table}')",
                    kind.select(&["\"from\"", "\"table\"", "\"to\""])
                );
                let create = read_statements(db).await?.remove(&format!("statement {table}")).unwrap_or_default();
                let deferred = if create.contains("DEFERRABLE INITIALLY DEFERRED") {
                    " DEFERRABLE INITIALLY DEFERRED"
                } else {
                    ""
                };
                for r in rows(db, sql).await? {
                    facts.insert(
                        format!("foreign key {table}.{}", r.get(0)),
                        format!("REFERENCES {}({}){deferred}", r.get(1), r.get(2)),
                    );
                }
            }
        }
        Kind::Postgres => {
            let sql = format!(
                "SELECT {} FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
                 WHERE n.nspname = current_schema() AND c.relname IN ({}) AND a.attnum > 0 AND NOT a.attisdropped",
                kind.select(&[
                    "c.relname",
                    "a.attname",
                    "format_type(a.atttypid, a.atttypmod)",
                    "a.attnotnull",
                    "pg_get_expr(d.adbin, d.adrelid)",
                    "a.attidentity",
                ]),
                in_tables()
            );
            for r in rows(db, sql).await? {
                let mut d = format!("{} {}", r.get(2), if r.get(3) == "true" { "NOT NULL" } else { "NULL" });
                if !r.is_null(4) {
                    d.push_str(&format!(" DEFAULT {}", r.get(4)));
                }
                if !r.get(5).is_empty() {
                    d.push_str(&format!(" GENERATED ({})", r.get(5)));
                }
                facts.insert(format!("{}.{}", r.get(0), r.get(1)), d);
            }
            let sql = format!(
                "SELECT {} FROM pg_indexes WHERE schemaname = current_schema() AND tablename IN ({})",
                kind.select(&["indexname", "indexdef"]),
                in_tables()
            );
            for r in rows(db, sql).await? {
                let def = r.get(1);
                let unique = if def.starts_with("CREATE UNIQUE") { "UNIQUE " } else { "" };
                let method = def.split_once(" USING ").map(|(_, m)| m).unwrap_or(def);
                facts.insert(format!("index {}", r.get(0)), format!("{unique}{method}"));
            }
            let sql = format!(
                "SELECT {} FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = current_schema() AND c.relname IN ({}) AND k.contype IN ('p', 'u', 'f', 'c', 'x')",
                kind.select(&["k.conname", "pg_get_constraintdef(k.oid)"]),
                in_tables()
            );
            for r in rows(db, sql).await? {
                facts.insert(format!("constraint {}", r.get(0)), r.get(1).to_string());
            }
        }
        Kind::Mysql => {
            let sql = format!(
                "SELECT {} FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ({})",
                kind.select(&["TABLE_NAME", "COLUMN_NAME", "COLUMN_TYPE", "IS_NULLABLE", "EXTRA", "COLUMN_DEFAULT"]),
                in_tables()
            );
            for r in rows(db, sql).await? {
                let mut d = format!("{} {}", mysql_type(r.get(2)), if r.get(3) == "NO" { "NOT NULL" } else { "NULL" });
                if !r.get(4).is_empty() {
                    d.push_str(&format!(" {}", r.get(4)));
                }
                if !r.is_null(5) && r.get(5) != "NULL" {
                    d.push_str(&format!(" DEFAULT {}", r.get(5)));
                }
                facts.insert(format!("{}.{}", r.get(0), r.get(1)), d);
            }
            let sql = format!(
                "SELECT {} FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ({}) \
                 GROUP BY TABLE_NAME, INDEX_NAME, NON_UNIQUE",
                kind.select(&[
                    "TABLE_NAME",
                    "INDEX_NAME",
                    "NON_UNIQUE",
                    "GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX SEPARATOR ', ')"
                ]),
                in_tables()
            );
            for r in rows(db, sql).await? {
                let unique = if r.get(2) == "0" { "UNIQUE " } else { "" };
                facts.insert(format!("index {}.{}", r.get(0), r.get(1)), format!("{unique}({})", r.get(3)));
            }
            let sql = format!(
                "SELECT {} FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = DATABASE() \
                 AND TABLE_NAME IN ({}) AND REFERENCED_TABLE_NAME IS NOT NULL",
                kind.select(&["CONSTRAINT_NAME", "COLUMN_NAME", "REFERENCED_TABLE_NAME", "REFERENCED_COLUMN_NAME"]),
                in_tables()
            );
            for r in rows(db, sql).await? {
                facts.insert(
                    format!("constraint {}", r.get(0)),
                    format!("FOREIGN KEY ({}) REFERENCES {}({})", r.get(1), r.get(2), r.get(3)),
                );
            }
        }
    }
    Ok(facts)
}

/// MariaDB writes a display width (`bigint(20)`), MySQL 8 does not.
fn mysql_type(t: &str) -> String {
    for int in ["bigint", "int", "smallint", "tinyint", "mediumint"] {
        if let Some(rest) = t.strip_prefix(int).and_then(|r| r.strip_prefix('(')) {
            if let Some((width, tail)) = rest.split_once(')') {
                if width.chars().all(|c| c.is_ascii_digit()) {
                    return format!("{int}{tail}");
                }
            }
        }
    }
    t.to_string()
}

/// SQLite's stored statements for the two tables and their indexes.
async fn read_statements(db: &Database) -> Result<Facts, DbError> {
    let sql = format!(
        "SELECT {} FROM sqlite_master WHERE tbl_name IN ({}) AND sql IS NOT NULL",
        Kind::Sqlite.select(&["name", "sql"]),
        in_tables()
    );
    Ok(db.inspect(sql).await?.iter().map(|r| (format!("statement {}", r.get(0)), r.get(1).to_string())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_name_the_column_and_both_types() {
        let want = expected(Kind::Mysql);
        let mut got = want.clone();
        got.insert("users.email".into(), "varchar(200) NOT NULL".into());
        got.insert("users.nickname".into(), "varchar(10) NULL".into());
        got.remove("index users.email");
        let diffs = compare(&want, &got);
        assert_eq!(
            diffs,
            [
                "users.email is varchar(200) NOT NULL, Django's migration makes varchar(100) NOT NULL",
                "users.nickname (varchar(10) NULL) is not in Django's migration",
                "index users.email is missing, Django's migration makes UNIQUE (email)",
            ]
        );
        assert!(compare(&want, &want).is_empty());
    }

    #[test]
    fn mariadb_display_widths_are_dropped() {
        assert_eq!(mysql_type("bigint(20)"), "bigint");
        assert_eq!(mysql_type("bigint(20) unsigned"), "bigint unsigned");
        assert_eq!(mysql_type("varchar(100)"), "varchar(100)");
        assert_eq!(mysql_type("datetime(6)"), "datetime(6)");
    }
}
