-- trendmine V011: label phrases remember their vectors (issue 15, re-mine speed).
-- The phrase labeller embeds a few thousand candidate phrases per full run; most are the same
-- run after run, so a re-mine reads them here instead of loading the model to embed them again.
CREATE TABLE trendmine.phrase_embedding (
    model       text        NOT NULL,
    phrase      text        NOT NULL,
    embedding   vector      NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (model, phrase)
);
COMMENT ON TABLE trendmine.phrase_embedding IS 'Embedding of each candidate label phrase per model, kept across mining runs so a re-mine embeds only phrases it has never seen (warehouse/phrase_cache.py). Safe to truncate: it refills on the next full run.';
COMMENT ON COLUMN trendmine.phrase_embedding.model IS 'Embedding model id (as in feedback_embedding.model).';
COMMENT ON COLUMN trendmine.phrase_embedding.phrase IS 'Candidate phrase, lower-cased as the labeller ranks it.';
COMMENT ON COLUMN trendmine.phrase_embedding.embedding IS 'Normalised embedding of the phrase.';
COMMENT ON COLUMN trendmine.phrase_embedding.created_at IS 'When the phrase was first embedded.';
