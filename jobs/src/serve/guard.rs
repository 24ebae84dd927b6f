//! The SQL endpoint is read-only and confined to the lake: every statement
//! passes this guard before it is planned, in the simple and the extended
//! protocol alike. It lets through what BI tools send (queries, `EXPLAIN`,
//! `SHOW`, the PostgreSQL `SET`s they open with, transactions and cursors
//! over queries) and refuses the rest with a PostgreSQL error: statements
//! that write or define (`INSERT`, `COPY`, `CREATE`, `DROP`, …), settings of
//! the shared engine (`SET datafusion.…`), and table functions other than
//! `generate_series`, `range` and `unnest`, which is how files are read.

use std::ops::ControlFlow;

use async_trait::async_trait;
use datafusion::common::ParamValues;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{Declare, Set, Statement, TableFactor, Visit, Visitor};
use datafusion_postgres::QueryHook;
use datafusion_postgres::hooks::HookClient;
use datafusion_postgres::pgwire::api::ClientInfo;
use datafusion_postgres::pgwire::api::results::Response;
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};

/// SQLSTATE `read_only_sql_transaction`.
const READ_ONLY: &str = "25006";
/// SQLSTATE `insufficient_privilege`.
const NOT_ALLOWED: &str = "42501";

/// Table functions that compute rows rather than read them from somewhere.
const TABLE_FUNCTIONS: [&str; 3] = ["generate_series", "range", "unnest"];

/// Why `statement` may not run here, as (SQLSTATE, message); `None` when it may.
pub fn refusal(statement: &Statement) -> Option<(&'static str, String)> {
    let allowed = match statement {
        Statement::Query(_) => true,
        Statement::Explain { statement, .. } => {
            return refusal(statement);
        }
        Statement::Declare { stmts } => {
            return stmts.iter().find_map(declared_query_refusal);
        }
        Statement::Set(set) => return set_refusal(set),
        Statement::ShowVariable { .. }
        | Statement::ShowStatus { .. }
        | Statement::ShowTables { .. }
        | Statement::ShowColumns { .. }
        | Statement::ShowCatalogs { .. }
        | Statement::ShowSchemas { .. }
        | Statement::StartTransaction { .. }
        | Statement::Commit { .. }
        | Statement::Rollback { .. }
        | Statement::Fetch { .. }
        | Statement::Close { .. }
        | Statement::Deallocate { .. }
        | Statement::Discard { .. } => true,
        _ => false,
    };
    if !allowed {
        let verb = statement
            .to_string()
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        return Some((
            READ_ONLY,
            format!(
                "dfstore serve is read-only: `{verb} …` is refused; only queries \
                 (SELECT, EXPLAIN, SHOW) run here, and the lake changes only through `dfstore run`"
            ),
        ));
    }
    table_function_refusal(statement)
}

fn declared_query_refusal(declare: &Declare) -> Option<(&'static str, String)> {
    declare
        .for_query
        .as_ref()
        .and_then(|query| refusal(&Statement::Query(query.clone())))
}

fn set_refusal(set: &Set) -> Option<(&'static str, String)> {
    let variable = match set {
        Set::SingleAssignment { variable, .. } => variable.to_string(),
        Set::SetTimeZone { .. } => return None,
        other => other.to_string(),
    };
    let lower = variable.to_lowercase();
    if lower.starts_with("datafusion.") || lower.starts_with("ballista.") || lower.contains(' ') {
        Some((
            NOT_ALLOWED,
            format!(
                "`SET {variable}` is refused: the engine's settings are shared by every \
                 client of dfstore serve; set them when starting it"
            ),
        ))
    } else {
        None
    }
}

/// Finds the first table function that is not on the allow list.
struct TableFunctions(Option<String>);

impl Visitor for TableFunctions {
    type Break = ();

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
        let name = match factor {
            TableFactor::Table {
                name,
                args: Some(_),
                ..
            } => Some(name.to_string()),
            TableFactor::Function { name, .. } => Some(name.to_string()),
            TableFactor::TableFunction { expr, .. } => Some(expr.to_string()),
            _ => None,
        };
        match name {
            Some(name)
                if !TABLE_FUNCTIONS
                    .iter()
                    .any(|allowed| name.eq_ignore_ascii_case(allowed)) =>
            {
                self.0 = Some(name);
                ControlFlow::Break(())
            }
            _ => ControlFlow::Continue(()),
        }
    }
}

fn table_function_refusal(statement: &Statement) -> Option<(&'static str, String)> {
    let mut found = TableFunctions(None);
    let _ = statement.visit(&mut found);
    found.0.map(|name| {
        (
            NOT_ALLOWED,
            format!(
                "the table function `{name}` is refused: dfstore serve reads only the lake's \
                 tables (see SHOW TABLES), never files or other locations"
            ),
        )
    })
}

/// The guard as a hook of the SQL endpoint; it must come first.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadOnly;

impl ReadOnly {
    fn check(statement: &Statement) -> Option<PgWireError> {
        refusal(statement).map(|(code, message)| {
            tracing::info!(statement = %statement, reason = %message, "refused");
            PgWireError::UserError(Box::new(ErrorInfo::new(
                "ERROR".into(),
                code.into(),
                message,
            )))
        })
    }
}

#[async_trait]
impl QueryHook for ReadOnly {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        _session_context: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        Self::check(statement).map(Err)
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        _session_context: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        Self::check(statement).map(Err)
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _logical_plan: &LogicalPlan,
        _params: &ParamValues,
        _session_context: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        Self::check(statement).map(Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    fn verdict(sql: &str) -> Option<&'static str> {
        let statements = Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap();
        refusal(&statements[0]).map(|(code, _)| code)
    }

    #[test]
    fn reads_pass_and_writes_are_refused() {
        for sql in [
            "SELECT 1",
            "SELECT * FROM analytic.reporte_ventas_tienda WHERE periodo = '2024-01'",
            "EXPLAIN SELECT 1",
            "SHOW search_path",
            "SET extra_float_digits = 3",
            "SET application_name = 'Metabase'",
            "SET TIME ZONE 'UTC'",
            "BEGIN",
            "COMMIT",
            "SELECT * FROM generate_series(1, 3)",
            "WITH t AS (SELECT 1 AS x) SELECT x FROM t",
        ] {
            assert_eq!(verdict(sql), None, "{sql}");
        }
        for sql in [
            "INSERT INTO analytic.reporte_ventas_tienda VALUES (1)",
            "UPDATE trusted.ventas SET total = 0",
            "DELETE FROM trusted.ventas",
            "DROP TABLE trusted.ventas",
            "CREATE TABLE x AS SELECT 1",
            "CREATE VIEW v AS SELECT 1",
            "COPY trusted.ventas TO '/tmp/out.csv'",
            "COPY (SELECT 1) TO '/tmp/out.csv'",
            "TRUNCATE trusted.ventas",
            "EXPLAIN ANALYZE INSERT INTO t VALUES (1)",
        ] {
            assert_eq!(verdict(sql), Some(READ_ONLY), "{sql}");
        }
        for sql in [
            "SET datafusion.execution.target_partitions = 1",
            "SELECT * FROM read_parquet('/etc/passwd')",
            "SELECT * FROM trusted.ventas v JOIN read_csv('s3://other/x.csv') o ON true",
            "SELECT * FROM (SELECT * FROM parquet_metadata('/x')) m",
        ] {
            assert_eq!(verdict(sql), Some(NOT_ALLOWED), "{sql}");
        }
    }
}
