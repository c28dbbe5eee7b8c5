-- trendmine V001: raw tables written by ingest, derived tables written by mining.
-- Raw tables mirror the sources one to one; the public read side is the "trends" schema (V002).
CREATE EXTENSION IF NOT EXISTS vector;
CREATE SCHEMA IF NOT EXISTS trendmine;
COMMENT ON SCHEMA trendmine IS 'trendmine raw and derived tables; consumers should read the "trends" views instead.';

-- ---------------------------------------------------------------- raw: feedback
CREATE TABLE trendmine.feedback (
    feedback_id        bigserial PRIMARY KEY,
    source             text        NOT NULL CHECK (source IN ('crm_notes', 'support_tickets', 'ideas', 'sales_calls')),
    source_id          text        NOT NULL,
    account_id         text,
    opportunity_id     text,
    author             text,
    votes              integer,
    url                text,
    text               text        NOT NULL,
    text_hash          text        NOT NULL,
    metadata           jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz,
    version            integer     NOT NULL DEFAULT 1,
    first_ingested_at  timestamptz NOT NULL DEFAULT now(),
    last_ingested_at   timestamptz NOT NULL DEFAULT now(),
    kafka_topic        text,
    kafka_partition    integer,
    kafka_offset       bigint,
    UNIQUE (source, source_id)
);
CREATE INDEX feedback_created_at_idx ON trendmine.feedback (created_at);
CREATE INDEX feedback_account_idx ON trendmine.feedback (account_id);
COMMENT ON TABLE trendmine.feedback IS 'One row per feedback record, upserted on (source, source_id); text is normalised and PII-redacted.';
COMMENT ON COLUMN trendmine.feedback.feedback_id IS 'Surrogate key, stable for the life of the record.';
COMMENT ON COLUMN trendmine.feedback.source IS 'crm_notes, support_tickets, ideas or sales_calls.';
COMMENT ON COLUMN trendmine.feedback.source_id IS 'The record id in its own system.';
COMMENT ON COLUMN trendmine.feedback.account_id IS 'Customer account; may name an account not (yet) known.';
COMMENT ON COLUMN trendmine.feedback.opportunity_id IS 'Linked CRM opportunity, when known.';
COMMENT ON COLUMN trendmine.feedback.author IS 'Who wrote or said it (redacted of contact details).';
COMMENT ON COLUMN trendmine.feedback.votes IS 'Idea-portal vote score.';
COMMENT ON COLUMN trendmine.feedback.url IS 'Link back to the record in its system.';
COMMENT ON COLUMN trendmine.feedback.text IS 'Normalised, PII-redacted text.';
COMMENT ON COLUMN trendmine.feedback.text_hash IS 'sha256 of text; drives re-embedding of edited records.';
COMMENT ON COLUMN trendmine.feedback.metadata IS 'Free JSON carried from the source (tags, status, board, ...).';
COMMENT ON COLUMN trendmine.feedback.created_at IS 'When the customer said it.';
COMMENT ON COLUMN trendmine.feedback.updated_at IS 'Last edit in the source system.';
COMMENT ON COLUMN trendmine.feedback.version IS 'Incremented each time a changed record is upserted.';
COMMENT ON COLUMN trendmine.feedback.first_ingested_at IS 'When trendmine first stored it.';
COMMENT ON COLUMN trendmine.feedback.last_ingested_at IS 'When trendmine last stored a change to it.';
COMMENT ON COLUMN trendmine.feedback.kafka_topic IS 'Topic of the message that last wrote the row.';
COMMENT ON COLUMN trendmine.feedback.kafka_partition IS 'Partition of that message.';
COMMENT ON COLUMN trendmine.feedback.kafka_offset IS 'Offset of that message.';

CREATE TABLE trendmine.feedback_history (
    feedback_id   bigint      NOT NULL REFERENCES trendmine.feedback ON DELETE CASCADE,
    version       integer     NOT NULL,
    text_hash     text        NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz,
    recorded_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (feedback_id, version)
);
COMMENT ON TABLE trendmine.feedback_history IS 'Earlier versions of edited feedback records (timestamps and text hash).';

-- ---------------------------------------------------------------- raw: CRM
CREATE TABLE trendmine.accounts (
    account_id   text PRIMARY KEY,
    name         text        NOT NULL,
    segment      text        NOT NULL,
    arr          numeric(18, 2) NOT NULL,
    icp_fit      double precision,
    region       text,
    plan         text,
    updated_at   timestamptz NOT NULL,
    ingested_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE trendmine.accounts IS 'Newest snapshot of each CRM account.';

CREATE TABLE trendmine.account_history (
    account_id  text        NOT NULL,
    valid_from  timestamptz NOT NULL,
    segment     text        NOT NULL,
    arr         numeric(18, 2) NOT NULL,
    icp_fit     double precision,
    plan        text,
    PRIMARY KEY (account_id, valid_from)
);
COMMENT ON TABLE trendmine.account_history IS 'Every account snapshot by the time it was taken: ARR and segment as of any period.';

CREATE TABLE trendmine.opportunities (
    opportunity_id text PRIMARY KEY,
    account_id     text,
    name           text,
    amount         numeric(18, 2) NOT NULL,
    stage          text        NOT NULL CHECK (stage IN ('open', 'won', 'lost')),
    close_date     date,
    loss_reason    text,
    updated_at     timestamptz NOT NULL,
    ingested_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX opportunities_account_idx ON trendmine.opportunities (account_id);
COMMENT ON TABLE trendmine.opportunities IS 'Newest snapshot of each CRM opportunity (deal).';

CREATE TABLE trendmine.opportunity_history (
    opportunity_id text        NOT NULL,
    valid_from     timestamptz NOT NULL,
    amount         numeric(18, 2) NOT NULL,
    stage          text        NOT NULL,
    loss_reason    text,
    PRIMARY KEY (opportunity_id, valid_from)
);
COMMENT ON TABLE trendmine.opportunity_history IS 'Every opportunity snapshot by the time it was taken.';

-- ---------------------------------------------------------------- derived: snippets and embeddings
CREATE TABLE trendmine.feedback_snippet (
    feedback_id  bigint  NOT NULL REFERENCES trendmine.feedback ON DELETE CASCADE,
    ord          integer NOT NULL,
    text         text    NOT NULL,
    text_hash    text    NOT NULL,
    PRIMARY KEY (feedback_id, ord)
);
COMMENT ON TABLE trendmine.feedback_snippet IS 'Long texts split into snippets that are embedded and clustered on their own.';

CREATE TABLE trendmine.feedback_embedding (
    feedback_id  bigint  NOT NULL,
    ord          integer NOT NULL,
    model        text    NOT NULL,
    text_hash    text    NOT NULL,
    embedding    vector  NOT NULL,
    embedded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (feedback_id, ord, model),
    FOREIGN KEY (feedback_id, ord) REFERENCES trendmine.feedback_snippet ON DELETE CASCADE
);
COMMENT ON TABLE trendmine.feedback_embedding IS 'Normalised sentence embedding per snippet, model and text hash (an unchanged snippet is never embedded twice).';

-- ---------------------------------------------------------------- derived: themes
CREATE TABLE trendmine.themes (
    theme_id      bigserial PRIMARY KEY,
    label         text        NOT NULL,
    keywords      text[]      NOT NULL DEFAULT '{}',
    quotes        jsonb       NOT NULL DEFAULT '[]'::jsonb,
    size          integer     NOT NULL DEFAULT 0,
    n_feedback    integer     NOT NULL DEFAULT 0,
    n_accounts    integer     NOT NULL DEFAULT 0,
    first_seen    timestamptz,
    last_seen     timestamptz,
    status        text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'retired', 'merged')),
    merged_into   bigint REFERENCES trendmine.themes,
    centroid      vector,
    model         text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE trendmine.themes IS 'Themes found by clustering; theme_id is stable across runs.';

CREATE TABLE trendmine.theme_lineage (
    lineage_id    bigserial PRIMARY KEY,
    run_id        bigint,
    event         text   NOT NULL CHECK (event IN ('birth', 'continue', 'merge', 'split', 'retire')),
    theme_id      bigint NOT NULL REFERENCES trendmine.themes,
    related_theme_ids bigint[] NOT NULL DEFAULT '{}',
    similarity    double precision,
    overlap       double precision,
    detail        jsonb  NOT NULL DEFAULT '{}'::jsonb,
    at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX theme_lineage_theme_idx ON trendmine.theme_lineage (theme_id);
COMMENT ON TABLE trendmine.theme_lineage IS 'Births, merges, splits and retirements of themes, one row per event per run.';

CREATE TABLE trendmine.feedback_theme (
    feedback_id  bigint  NOT NULL,
    ord          integer NOT NULL,
    theme_id     bigint  NOT NULL REFERENCES trendmine.themes,
    similarity   double precision,
    method       text    NOT NULL CHECK (method IN ('cluster', 'outlier', 'incremental')),
    run_id       bigint,
    assigned_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (feedback_id, ord),
    FOREIGN KEY (feedback_id, ord) REFERENCES trendmine.feedback_snippet ON DELETE CASCADE
);
CREATE INDEX feedback_theme_theme_idx ON trendmine.feedback_theme (theme_id);
COMMENT ON TABLE trendmine.feedback_theme IS 'Snippet-to-theme assignment; a snippet without a row is noise or not yet mined.';

-- ---------------------------------------------------------------- derived: trends
CREATE TABLE trendmine.theme_trends (
    theme_id       bigint  NOT NULL REFERENCES trendmine.themes,
    grain          text    NOT NULL CHECK (grain IN ('day', 'week', 'month')),
    period_start   date    NOT NULL,
    segment        text    NOT NULL,
    mentions       integer NOT NULL,
    accounts       integer NOT NULL,
    arr            numeric(18, 2) NOT NULL,
    pipeline       numeric(18, 2) NOT NULL,
    weighted_score double precision NOT NULL,
    mentions_prev  integer,
    growth         double precision,
    computed_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (theme_id, grain, period_start, segment)
);
COMMENT ON TABLE trendmine.theme_trends IS 'Demand per theme x period x segment (segment = ''all'' for all segments).';

CREATE TABLE trendmine.theme_emerging (
    theme_id        bigint  NOT NULL REFERENCES trendmine.themes,
    grain           text    NOT NULL,
    period_start    date    NOT NULL,
    rank            integer NOT NULL,
    is_new          boolean NOT NULL,
    mentions        integer NOT NULL,
    accounts        integer NOT NULL,
    arr             numeric(18, 2) NOT NULL,
    pipeline        numeric(18, 2) NOT NULL,
    observed        double precision NOT NULL,
    expected        double precision NOT NULL,
    statistic       double precision NOT NULL,
    p_value         double precision,
    threshold       double precision NOT NULL,
    evidence        jsonb   NOT NULL DEFAULT '{}'::jsonb,
    computed_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (theme_id, grain, period_start)
);
COMMENT ON TABLE trendmine.theme_emerging IS 'Themes rising faster than their own baseline explains, from the latest trends rebuild.';

-- ---------------------------------------------------------------- operations
CREATE TABLE trendmine.pipeline_runs (
    run_id       bigserial PRIMARY KEY,
    flow         text        NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now(),
    ended_at     timestamptz,
    status       text        NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'completed', 'failed')),
    counts       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    params       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    model        text,
    error        text,
    prefect_flow_run_id text
);
COMMENT ON TABLE trendmine.pipeline_runs IS 'One row per flow run: timing, status, counts in/out per stage, model and parameters.';
