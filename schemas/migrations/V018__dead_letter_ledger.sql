-- trendmine V018: the dead-letter ledger (issue 30). A dead letter is keyed by what it is
-- (source topic, source id, content hash), not by where it sat on a topic: a topic or offset
-- reset re-reads the same records under new offsets, and a (partition, offset) key then
-- dropped new letters and pointed old rows at other records. The ledger keeps the original
-- bytes (bounded by TRENDMINE_DLQ_MAX_BYTES), so a replay no longer needs the topic, which an
-- embedded broker loses on restart. The BI role reads trends.dead_letters: redacted text only.
ALTER TABLE trendmine.dead_letters
    DROP CONSTRAINT dead_letters_source_topic_source_partition_source_offset_key,
    DROP CONSTRAINT dead_letters_dlq_topic_dlq_partition_dlq_offset_key,
    ADD COLUMN letter_key       text,
    ADD COLUMN attempt          integer     NOT NULL DEFAULT 0,
    ADD COLUMN first_letter_id  bigint,
    ADD COLUMN source_id        text,
    ADD COLUMN content_sha256   text,
    ADD COLUMN record_key       bytea,
    ADD COLUMN original         bytea,
    ADD COLUMN redacted         text,
    ADD COLUMN last_rejected_at timestamptz,
    ADD COLUMN discarded_at     timestamptz;
-- Rows recorded before the ledger have no bytes: a key of their own until `trendmine dlq`
-- finds their bytes on the topic (same origin, same size) and adopts them.
UPDATE trendmine.dead_letters SET letter_key = 'legacy:' || dead_letter_id;
ALTER TABLE trendmine.dead_letters
    ALTER COLUMN letter_key SET NOT NULL,
    ADD CONSTRAINT dead_letters_letter_key_attempt_key UNIQUE (letter_key, attempt);
CREATE INDEX dead_letters_first_idx ON trendmine.dead_letters (first_letter_id)
    WHERE first_letter_id IS NOT NULL;

COMMENT ON TABLE trendmine.dead_letters IS 'The dead-letter ledger: every rejected record once, keyed by (source topic, source id, content hash), with why, where it came from, its original bytes (bounded), a redacted copy, and whether it was replayed or discarded.';
COMMENT ON COLUMN trendmine.dead_letters.source_offset IS 'Offset it was read from; null when rejected by `produce`. Informational: the ledger key does not depend on it.';
COMMENT ON COLUMN trendmine.dead_letters.dlq_topic IS 'The dead-letter topic that also received it.';
COMMENT ON COLUMN trendmine.dead_letters.letter_key IS 'Stable id: sha256 of (source topic, source id, content hash); legacy:<id> for a row recorded before the ledger whose bytes were not found.';
COMMENT ON COLUMN trendmine.dead_letters.attempt IS '0 for the first rejection; n for the record rejected again after its n-th replay.';
COMMENT ON COLUMN trendmine.dead_letters.first_letter_id IS 'For a replay that failed again: the dead_letter_id of its first letter; null on the first.';
COMMENT ON COLUMN trendmine.dead_letters.source_id IS 'The record''s id in its system (source_id, account_id or opportunity_id) when it parses far enough to have one.';
COMMENT ON COLUMN trendmine.dead_letters.content_sha256 IS 'sha256 of the original bytes (hex).';
COMMENT ON COLUMN trendmine.dead_letters.record_key IS 'The original Kafka key, replayed with the record.';
COMMENT ON COLUMN trendmine.dead_letters.original IS 'The original bytes, at most TRENDMINE_DLQ_MAX_BYTES (shorter than value_bytes = truncated, not replayable); null for a legacy row or a discarded letter. Holds PII: not in the trends view.';
COMMENT ON COLUMN trendmine.dead_letters.redacted IS 'The original record decoded, PII-redacted, at most 65,536 characters.';
COMMENT ON COLUMN trendmine.dead_letters.last_rejected_at IS 'When the same record was last rejected again (a batch re-read after a crash or an offset reset).';
COMMENT ON COLUMN trendmine.dead_letters.discarded_at IS 'When `trendmine dlq discard` gave it up (its original bytes are dropped); null = not discarded.';

-- How far `trendmine dlq` has read the dead-letter topic, so each call reads only what is new.
CREATE TABLE trendmine.dead_letter_cursor (
    dlq_topic      text        NOT NULL,
    dlq_partition  integer     NOT NULL,
    next_offset    bigint      NOT NULL,
    last_key       text,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dlq_topic, dlq_partition)
);
COMMENT ON TABLE trendmine.dead_letter_cursor IS 'How far `trendmine dlq` has read each partition of the dead-letter topic.';
COMMENT ON COLUMN trendmine.dead_letter_cursor.dlq_topic IS 'The dead-letter topic.';
COMMENT ON COLUMN trendmine.dead_letter_cursor.dlq_partition IS 'Its partition.';
COMMENT ON COLUMN trendmine.dead_letter_cursor.next_offset IS 'The next offset to read.';
COMMENT ON COLUMN trendmine.dead_letter_cursor.last_key IS 'letter_key of the record just before next_offset: a different one there means the topic was reset, and it is read again from its start.';
COMMENT ON COLUMN trendmine.dead_letter_cursor.updated_at IS 'When it last moved.';

CREATE OR REPLACE VIEW trends.dead_letters AS
SELECT d.dead_letter_id, d.error_code, d.stage, d.reason, d.source_topic, d.source_partition,
       d.source_offset, d.rejected_at, d.replayed_at, d.value_bytes, d.preview, d.exception_class,
       d.letter_key, d.attempt, d.first_letter_id, d.source_id, d.redacted, d.discarded_at
FROM trendmine.dead_letters d;
COMMENT ON VIEW trends.dead_letters IS 'Rejected records, one row per record (and per failed replay): why they were rejected, where they came from, a redacted copy, and whether they were replayed or discarded.';
COMMENT ON COLUMN trends.dead_letters.letter_key IS 'Stable id of the record: sha256 of (source topic, source id, content hash).';
COMMENT ON COLUMN trends.dead_letters.attempt IS '0 for the first rejection; n when it failed again after its n-th replay.';
COMMENT ON COLUMN trends.dead_letters.first_letter_id IS 'For a replay that failed again: the dead_letter_id of its first letter.';
COMMENT ON COLUMN trends.dead_letters.source_id IS 'The record''s id in its system, when it parses far enough to have one.';
COMMENT ON COLUMN trends.dead_letters.redacted IS 'The whole record, PII-redacted, at most 65,536 characters (the original bytes are not in this view).';
COMMENT ON COLUMN trends.dead_letters.discarded_at IS 'When it was discarded with `trendmine dlq discard`; null = not discarded.';
