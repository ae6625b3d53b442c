//! `verify-database`: the restored database answers SQL and holds the
//! product databases with their tables (the runbook lists them). It logs in
//! as the RDS master user with the password from Secrets Manager (the DR
//! region's replica first, then the primary region's), reads
//! `information_schema` and changes nothing; a missing database or table
//! fails the step, named.
//!
//! The endpoint is usually private to the VPC: `--connect-to` maps it to a
//! tunnel (an SSH port forward through the bastion). The connection is
//! always TLS, its certificate checked against the endpoint's name (also
//! through a tunnel) and trusted when `--database-ca` or a public root
//! signs it; the password never crosses a connection that is not.

use std::collections::BTreeSet;
use std::time::Duration;

use mysql_async::prelude::Queryable as _;
use serde_json::Value;

use super::{Input, StepKind, Values, text};
use crate::dr::{Context, DrError};

pub(super) struct VerifyDatabase;

/// Whether connecting failed for want of a TLS connection that can be
/// trusted: no TLS offered, or a certificate refused (rustls' error comes
/// wrapped in an I/O error).
fn not_trusted(error: &mysql_async::Error) -> bool {
    match error {
        mysql_async::Error::Driver(mysql_async::DriverError::NoClientSslFlagFromServer)
        | mysql_async::Error::Io(mysql_async::IoError::Tls(_)) => true,
        mysql_async::Error::Io(mysql_async::IoError::Io(io)) => io
            .get_ref()
            .is_some_and(|inner| inner.is::<rustls::Error>()),
        _ => false,
    }
}

const INPUTS: &[Input] = &[
    Input {
        name: "endpoint",
        required: true,
        doc: "the database's `host:port` (a restore-database's `endpoint`)",
    },
    Input {
        name: "tables",
        required: true,
        doc: "each database that must be there, with the tables it must hold: { apimgt = [\"AM_API\"], ... }",
    },
    Input {
        name: "user",
        required: false,
        doc: "who logs in (default: the RDS master user)",
    },
];

#[async_trait::async_trait]
impl StepKind for VerifyDatabase {
    fn inputs(&self) -> &'static [Input] {
        INPUTS
    }

    fn outputs(&self) -> &'static [&'static str] {
        &["checked"]
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(120)
    }

    fn retries(&self) -> u32 {
        3
    }

    fn mutating(&self) -> bool {
        false
    }

    fn describe(&self, inputs: &Values) -> String {
        let wanted = wanted(inputs).unwrap_or_default();
        format!(
            "check that {} holds {}",
            inputs
                .get("endpoint")
                .and_then(Value::as_str)
                .unwrap_or("?"),
            wanted
                .iter()
                .map(|(db, tables)| format!("{db} ({})", tables.join(", ")))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }

    async fn run(&self, context: &Context, step: &str, inputs: &Values) -> Result<Values, DrError> {
        let endpoint = text(inputs, step, "endpoint")?;
        let wanted = wanted(inputs).ok_or_else(|| DrError::Input {
            step: step.to_owned(),
            input: "tables".to_owned(),
            problem: "should be a table of database names, each with a list of table names"
                .to_owned(),
        })?;
        let user = match inputs.get("user") {
            Some(_) => text(inputs, step, "user")?.to_owned(),
            None => crate::topology::MASTER_USER.to_owned(),
        };
        let password = context.master_password().await?;
        let (host, port) = context.connect_to.route(endpoint);
        let name = crate::dr::connect::host_of(endpoint);
        let mut tls = mysql_async::SslOpts::default();
        if let Some(ca) = &context.database_ca {
            tls = tls.with_root_certs(vec![ca.clone().into()]);
        }
        if host != name {
            // Through a tunnel: the certificate is still the endpoint's.
            tls = tls.with_danger_tls_hostname_override(Some(name.to_owned()));
        }
        let opts = mysql_async::OptsBuilder::default()
            .ip_or_hostname(host.clone())
            .tcp_port(port)
            .prefer_socket(false)
            .ssl_opts(Some(tls))
            .user(Some(user))
            .pass(Some(password));
        let sql = |source| DrError::Sql {
            endpoint: endpoint.to_owned(),
            source,
        };
        let mut connection =
            mysql_async::Conn::new(opts)
                .await
                .map_err(|source| match not_trusted(&source) {
                    true => DrError::DatabaseTls {
                        endpoint: endpoint.to_owned(),
                        source,
                    },
                    false => sql(source),
                })?;
        let present: Vec<(String, String)> = connection
            .query("SELECT table_schema, table_name FROM information_schema.tables")
            .await
            .map_err(sql)?;
        connection.disconnect().await.map_err(sql)?;
        let present: BTreeSet<(String, String)> = present
            .into_iter()
            .map(|(db, table)| (db.to_ascii_lowercase(), table.to_ascii_lowercase()))
            .collect();
        let databases: BTreeSet<&str> = present.iter().map(|(db, _)| db.as_str()).collect();
        let mut checked = 0;
        for (database, tables) in &wanted {
            if !databases.contains(database.to_ascii_lowercase().as_str()) {
                return Err(DrError::Missing {
                    endpoint: endpoint.to_owned(),
                    what: format!("database {database}"),
                });
            }
            for table in tables {
                let key = (database.to_ascii_lowercase(), table.to_ascii_lowercase());
                if !present.contains(&key) {
                    return Err(DrError::Missing {
                        endpoint: endpoint.to_owned(),
                        what: format!("table {database}.{table}"),
                    });
                }
                checked += 1;
            }
        }
        Ok(Values::from([(
            "checked".to_owned(),
            Value::from(format!("{} databases, {checked} tables", wanted.len())),
        )]))
    }

    async fn undo(&self, _context: &Context, _step: &str, _inputs: &Values) -> Result<(), DrError> {
        Ok(())
    }
}

/// The `tables` input: database name and its tables.
fn wanted(inputs: &Values) -> Option<Vec<(String, Vec<String>)>> {
    inputs
        .get("tables")?
        .as_object()?
        .iter()
        .map(|(db, tables)| {
            let tables = tables
                .as_array()?
                .iter()
                .map(|t| t.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()?;
            Some((db.clone(), tables))
        })
        .collect()
}
