//! The embedded store's tantivy index: API statistics (`kind` tells kinds
//! apart, should more join them).

use tantivy::schema::{FAST, Field, STORED, STRING, Schema};

#[derive(Debug, Clone)]
pub(super) struct Fields {
    pub id: Field,
    pub kind: Field,
    pub env: Field,
    pub host: Field,
    pub ts: Field,
    pub api: Field,
    pub tenant: Field,
    pub count: Field,
    pub faults: Field,
    pub bytes: Field,
    pub min_ms: Field,
    pub max_ms: Field,
    pub avg_ms: Field,
}

pub(super) const KIND_API_STATS: &str = "api_stats";

pub(super) fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    // Ranges over time are answered from the fast column (tantivy does so
    // for any fast field), so it is not indexed: a term per value is costly.
    let date = tantivy::schema::DateOptions::from(STORED | FAST)
        .set_precision(tantivy::schema::DateTimePrecision::Microseconds);
    let fields = Fields {
        id: builder.add_text_field("id", STRING | STORED),
        kind: builder.add_text_field("kind", STRING | FAST),
        env: builder.add_text_field("env", STRING | FAST),
        host: builder.add_text_field("host", STRING | FAST | STORED),
        ts: builder.add_date_field("ts", date),
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
