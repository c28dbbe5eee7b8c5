-- trendmine V016: `similar` searches every stored record (issue 27), by meaning and by words.
-- One row per record and model: the record's text with boilerplate stripped (quoted threads,
-- signatures, user-agent lines, template headings), its full-text vector for a word search,
-- and vectors of the whole stripped text and of its snippets for a meaning search.
-- Filled on demand by `similar` (warehouse/similar.py index_missing), over all history.
CREATE TABLE trendmine.feedback_search (
    feedback_id  bigint      NOT NULL PRIMARY KEY
                 REFERENCES trendmine.feedback ON DELETE CASCADE,
    text_hash    text        NOT NULL,
    search_text  text        NOT NULL,
    tsv          tsvector    GENERATED ALWAYS AS (to_tsvector('english', search_text)) STORED,
    indexed_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX feedback_search_tsv_idx ON trendmine.feedback_search USING gin (tsv);
COMMENT ON TABLE trendmine.feedback_search IS 'Every feedback record as `similar` searches it: boilerplate-stripped text and its full-text vector (GIN-indexed). Safe to truncate: `similar` refills it.';
COMMENT ON COLUMN trendmine.feedback_search.feedback_id IS 'The record (trendmine.feedback).';
COMMENT ON COLUMN trendmine.feedback_search.text_hash IS 'feedback.text_hash when indexed: a record whose text changed is indexed again.';
COMMENT ON COLUMN trendmine.feedback_search.search_text IS 'The text without quoted threads, signatures, environment lines, template headings, greetings and contact lines (mining/boilerplate.py).';
COMMENT ON COLUMN trendmine.feedback_search.tsv IS 'to_tsvector(''english'', search_text), for the word search.';
COMMENT ON COLUMN trendmine.feedback_search.indexed_at IS 'When the record was indexed.';

CREATE TABLE trendmine.feedback_search_embedding (
    feedback_id  bigint  NOT NULL REFERENCES trendmine.feedback_search ON DELETE CASCADE,
    ord          integer NOT NULL,
    model        text    NOT NULL,
    embedding    vector  NOT NULL,
    PRIMARY KEY (feedback_id, model, ord)
);
COMMENT ON TABLE trendmine.feedback_search_embedding IS 'Normalised embeddings of each search_text: ord 0 the whole stripped text, ord 1.. its snippets when it has more than one. A record''s meaning score is its best cosine over these.';
COMMENT ON COLUMN trendmine.feedback_search_embedding.ord IS '0: the whole stripped text; 1..n: its snippets (mining/snippets.py).';
COMMENT ON COLUMN trendmine.feedback_search_embedding.model IS 'Embedding model id (as in feedback_embedding.model).';
