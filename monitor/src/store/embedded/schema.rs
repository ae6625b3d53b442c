//! The embedded store's tantivy index: logs and API statistics, told apart
//! by `kind`. `message` is full text; fast fields serve sorting.

use tantivy::schema::{FAST, Field, STORED, STRING, Schema, TEXT};

#[derive(Debug, Clone)]
pub(super) struct Fields {
    pub id: Field,
    pub kind: Field,
    pub env: Field,
    pub host: Field,
    pub ts: Field,
    /// Logs: newest-first order, unique (see the writer).
    pub sort_key: Field,
    pub level: Field,
    pub logger: Field,
    pub file: Field,
    pub message: Field,
    pub api: Field,
    pub tenant: Field,
    pub count: Field,
    pub faults: Field,
    pub bytes: Field,
    pub min_ms: Field,
    pub max_ms: Field,
    pub avg_ms: Field,
}

pub(super) const KIND_LOG: &str = "log";
pub(super) const KIND_API_STATS: &str = "api_stats";

pub(super) fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    // Ranges over time and sort keys are answered from the fast columns
    // (tantivy does so for any fast field), so neither is indexed: nearly
    // every value is unique, and a term per document is costly to write.
    let date = tantivy::schema::DateOptions::from(STORED | FAST)
        .set_precision(tantivy::schema::DateTimePrecision::Microseconds);
    let fields = Fields {
        id: builder.add_text_field("id", STRING | STORED),
        kind: builder.add_text_field("kind", STRING | FAST),
        env: builder.add_text_field("env", STRING | FAST),
        host: builder.add_text_field("host", STRING | FAST | STORED),
        ts: builder.add_date_field("ts", date),
        sort_key: builder.add_u64_field("sort_key", FAST),
        level: builder.add_text_field("level", STRING | FAST | STORED),
        logger: builder.add_text_field("logger", TEXT | STORED),
        file: builder.add_text_field("file", STRING | STORED),
        message: builder.add_text_field("message", TEXT | STORED),
        api: builder.add_text_field("api", STRING | STORED),
        tenant: builder.add_text_field("tenant", STRING | STORED),
        count: builder.add_u64_field("count", STORED),
        faults: builder.add_u64_field("faults", STORED),
        bytes: builder.add_u64_field("bytes", STORED),
        min_ms: builder.add_f64_field("min_ms", STORED),
        max_ms: builder.add_f64_field("max_ms", STORED),
        avg_ms: builder.add_f64_field("avg_ms", STORED),
    };
    (builder.build(), fields)
}
