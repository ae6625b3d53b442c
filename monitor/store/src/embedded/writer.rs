//! The one writer of the embedded index (API statistics), on its own thread. Batches that
//! arrive together are committed together (one fsync for many requests), and
//! each request is answered only after its commit: an acknowledged event
//! survives a crash.

use std::collections::HashSet;
use std::sync::Arc;

use aerie_wire::EventBody;
use tantivy::schema::Term;
use tantivy::{IndexReader, IndexWriter, TantivyDocument};
use tokio::sync::{mpsc, oneshot};

use super::catalog::Catalog;
use super::schema::{Fields, KIND_API_STATS};
use crate::{StoreError, WriteBatch, WriteOutcome};

pub(super) enum Command {
    Write(
        WriteBatch,
        oneshot::Sender<Result<WriteOutcome, StoreError>>,
    ),
    Delete(
        Box<dyn tantivy::query::Query>,
        oneshot::Sender<Result<(), StoreError>>,
    ),
}

/// Requests committed together at most.
const GROUP: usize = 64;

pub(super) fn run(
    mut writer: IndexWriter,
    reader: IndexReader,
    fields: Fields,
    catalog: Arc<Catalog>,
    mut commands: mpsc::Receiver<Command>,
) {
    while let Some(first) = commands.blocking_recv() {
        let mut group = vec![first];
        while group.len() < GROUP {
            match commands.try_recv() {
                Ok(command) => group.push(command),
                Err(_) => break,
            }
        }
        let searcher = reader.searcher();
        let mut seen: HashSet<String> = HashSet::new();
        let mut outcomes = Vec::with_capacity(group.len());
        let mut failed: Option<String> = None;
        for command in &group {
            match command {
                Command::Write(batch, _) => {
                    let mut outcome = WriteOutcome::default();
                    for event in &batch.events {
                        let id = scoped_id(&batch.environment, &event.id);
                        let held = seen.contains(&id)
                            || searcher
                                .doc_freq(&Term::from_field_text(fields.id, &id))
                                .map(|count| count > 0)
                                .unwrap_or(false);
                        if held {
                            outcome.duplicates += 1;
                            continue;
                        }
                        seen.insert(id);
                        let Some(document) = document(&fields, batch, event) else {
                            continue;
                        };
                        if let Err(error) = writer.add_document(document) {
                            failed.get_or_insert(error.to_string());
                        }
                        outcome.accepted += 1;
                    }
                    outcomes.push(outcome);
                }
                Command::Delete(query, _) => {
                    if let Err(error) = writer.delete_query(query.box_clone()) {
                        failed.get_or_insert(error.to_string());
                    }
                    outcomes.push(WriteOutcome::default());
                }
            }
        }
        // Hosts are heard from before their events become searchable, so that
        // a reader never sees events from a host it does not know.
        let now = chrono::Utc::now();
        for command in &group {
            if let Command::Write(batch, _) = command {
                catalog.saw(&batch.environment, &batch.host, now);
            }
        }
        if let Err(error) = catalog.save_due() {
            tracing::warn!(%error, "cannot save the host catalog");
        }
        let committed = match failed {
            Some(error) => Err(error),
            None => writer
                .commit()
                .map(drop)
                .and_then(|()| reader.reload())
                .map_err(|error| error.to_string()),
        };
        if let Err(error) = &committed {
            tracing::error!(%error, "embedded store commit failed; the batches are refused and will be resent");
            let _ = writer.rollback();
        }
        for (command, outcome) in group.into_iter().zip(outcomes) {
            let failure = |error: &String| {
                StoreError::backend(
                    "embedded",
                    format!("the API statistics index: commit failed: {error}"),
                )
            };
            match command {
                Command::Write(_, reply) => {
                    let _ = reply.send(committed.as_ref().map(|()| outcome).map_err(failure));
                }
                Command::Delete(_, reply) => {
                    let _ = reply.send(committed.as_ref().map(|_| ()).map_err(failure));
                }
            }
        }
    }
}

/// What duplicates are recognised by: the id within its environment (the
/// same id sent by two environments is two events). A name holds no `/`.
fn scoped_id(environment: &str, id: &str) -> String {
    format!("{environment}/{id}")
}

fn document(
    fields: &Fields,
    batch: &WriteBatch,
    event: &aerie_wire::Event,
) -> Option<TantivyDocument> {
    let mut document = TantivyDocument::new();
    let micros = event.timestamp.timestamp_micros();
    document.add_text(fields.id, scoped_id(&batch.environment, &event.id));
    document.add_text(fields.env, &batch.environment);
    document.add_text(fields.host, &batch.host);
    document.add_date(fields.ts, tantivy::DateTime::from_timestamp_micros(micros));
    match &event.body {
        // Metric samples and logs have stores of their own, never here.
        EventBody::Metric { .. } | EventBody::Log { .. } => return None,
        EventBody::ApiStats {
            api,
            tenant,
            count,
            faults,
            min_ms,
            max_ms,
            avg_ms,
            bytes,
            ..
        } => {
            document.add_text(fields.kind, KIND_API_STATS);
            document.add_text(fields.api, api);
            document.add_text(fields.tenant, tenant);
            document.add_u64(fields.count, *count);
            document.add_u64(fields.faults, *faults);
            document.add_u64(fields.bytes, *bytes);
            document.add_f64(fields.min_ms, *min_ms);
            document.add_f64(fields.max_ms, *max_ms);
            document.add_f64(fields.avg_ms, *avg_ms);
        }
    }
    Some(document)
}
