-- trendmine V007: dead letters in Postgres (issue 14). Every record the ingest path rejects is
-- recorded here besides the feedback.dlq topic (which holds the original bytes): an embedded
-- broker loses its topics on restart, and a rejected record must stay visible from SQL.
-- The row is the ledger `trendmine dlq replay` works from: replayed_at marks what was sent back.
CREATE TABLE trendmine.dead_letters (
    dead_letter_id    bigserial   PRIMARY KEY,
    source_topic      text,
    source_partition  integer,
    source_offset     bigint,
    stage             text        NOT NULL,
    error_code        text        NOT NULL,
    reason            text        NOT NULL,
    exception_class   text,
    value_bytes       integer     NOT NULL,
    preview           text        NOT NULL,
    dlq_topic         text        NOT NULL,
    dlq_partition     integer,
    dlq_offset        bigint,
    rejected_at       timestamptz NOT NULL DEFAULT now(),
    replayed_at       timestamptz,
    UNIQUE (source_topic, source_partition, source_offset),
    UNIQUE (dlq_topic, dlq_partition, dlq_offset)
);
CREATE INDEX dead_letters_code_idx ON trendmine.dead_letters (error_code) WHERE replayed_at IS NULL;
COMMENT ON TABLE trendmine.dead_letters IS 'Every rejected record, once per origin: why, where it came from, a redacted preview, and whether it was replayed (the original bytes are on the feedback.dlq topic).';
COMMENT ON COLUMN trendmine.dead_letters.dead_letter_id IS 'Surrogate key.';
COMMENT ON COLUMN trendmine.dead_letters.source_topic IS 'Topic the record was read from (or was bound for, when `produce` rejected it).';
COMMENT ON COLUMN trendmine.dead_letters.source_partition IS 'Partition it was read from; null when rejected by `produce`.';
COMMENT ON COLUMN trendmine.dead_letters.source_offset IS 'Offset it was read from; null when rejected by `produce`. A batch replayed after a crash records the same origin once.';
COMMENT ON COLUMN trendmine.dead_letters.stage IS 'Where it failed: produce, parse, validate, normalise or database.';
COMMENT ON COLUMN trendmine.dead_letters.error_code IS 'Stable code (malformed_json, missing_field, timestamp_out_of_range, nul_byte, ...); `trendmine dlq replay --code` selects by it.';
COMMENT ON COLUMN trendmine.dead_letters.reason IS 'What is wrong and what to do, truncated to 1,000 characters.';
COMMENT ON COLUMN trendmine.dead_letters.exception_class IS 'Class of the error behind the rejection, when there was one.';
COMMENT ON COLUMN trendmine.dead_letters.value_bytes IS 'Size of the original record in bytes.';
COMMENT ON COLUMN trendmine.dead_letters.preview IS 'Start of the original record, PII-redacted and truncated to 500 characters.';
COMMENT ON COLUMN trendmine.dead_letters.dlq_topic IS 'The dead-letter topic holding the original bytes.';
COMMENT ON COLUMN trendmine.dead_letters.dlq_partition IS 'Partition of its newest copy on the dead-letter topic.';
COMMENT ON COLUMN trendmine.dead_letters.dlq_offset IS 'Offset of its newest copy on the dead-letter topic.';
COMMENT ON COLUMN trendmine.dead_letters.rejected_at IS 'When it was first rejected.';
COMMENT ON COLUMN trendmine.dead_letters.replayed_at IS 'When `trendmine dlq replay` republished it to its topic; null = not replayed.';

CREATE VIEW trends.dead_letters AS
SELECT d.dead_letter_id, d.error_code, d.stage, d.reason, d.source_topic, d.source_partition,
       d.source_offset, d.rejected_at, d.replayed_at, d.value_bytes, d.preview, d.exception_class
FROM trendmine.dead_letters d;
COMMENT ON VIEW trends.dead_letters IS 'Rejected records, one row per origin: why they were rejected, where they came from, a redacted preview, and whether they were replayed.';
COMMENT ON COLUMN trends.dead_letters.dead_letter_id IS 'Id of the dead letter.';
COMMENT ON COLUMN trends.dead_letters.error_code IS 'Stable code of the rejection (malformed_json, missing_field, timestamp_out_of_range, nul_byte, over_budget, database_rejected, ...).';
COMMENT ON COLUMN trends.dead_letters.stage IS 'Where it failed: produce, parse, validate, normalise or database.';
COMMENT ON COLUMN trends.dead_letters.reason IS 'What is wrong and what to do (at most 1,000 characters).';
COMMENT ON COLUMN trends.dead_letters.source_topic IS 'Topic the record came from.';
COMMENT ON COLUMN trends.dead_letters.source_partition IS 'Its partition (null when `produce` rejected it).';
COMMENT ON COLUMN trends.dead_letters.source_offset IS 'Its offset (null when `produce` rejected it).';
COMMENT ON COLUMN trends.dead_letters.rejected_at IS 'When it was first rejected.';
COMMENT ON COLUMN trends.dead_letters.replayed_at IS 'When it was replayed to its topic; null = still waiting for a fix and `trendmine dlq replay`.';
COMMENT ON COLUMN trends.dead_letters.value_bytes IS 'Size of the original record in bytes.';
COMMENT ON COLUMN trends.dead_letters.preview IS 'Start of the original record, PII-redacted, at most 500 characters.';
COMMENT ON COLUMN trends.dead_letters.exception_class IS 'Class of the error behind the rejection, when there was one.';
