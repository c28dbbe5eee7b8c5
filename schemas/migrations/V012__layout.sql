-- trendmine V012: the last full run's UMAP layout, reused by the next full run (issue 15).
-- A full run fits UMAP on a sample of at most 10k snippets and places every other snippet
-- among them. While the new snippets fit the existing themes, the next full run places all
-- snippets in this stored layout instead of fitting UMAP again (warehouse/mine.py).
CREATE TABLE trendmine.layout (
    model           text        PRIMARY KEY,
    fitted_at       timestamptz NOT NULL DEFAULT now(),
    covers_until    timestamptz,
    n_items         integer     NOT NULL,
    n_sample        integer     NOT NULL,
    dim             integer     NOT NULL,
    n_components    integer     NOT NULL,
    params          jsonb       NOT NULL,
    sample_vectors  bytea       NOT NULL,
    sample_coords   bytea       NOT NULL,
    item_keys       bytea,
    item_coords     bytea
);
COMMENT ON TABLE trendmine.layout IS 'The UMAP layout of the last full mining run that fitted one, per embedding model: the sample it fitted and the positions it gave them. Safe to truncate: the next full run fits a new one.';
COMMENT ON COLUMN trendmine.layout.model IS 'Embedding model id (as in feedback_embedding.model).';
COMMENT ON COLUMN trendmine.layout.fitted_at IS 'When UMAP fitted this layout.';
COMMENT ON COLUMN trendmine.layout.covers_until IS 'Newest embedded_at among the snippets of the run that fitted it: snippets embedded later are new to the layout.';
COMMENT ON COLUMN trendmine.layout.n_items IS 'Snippets in the window of the run that fitted it.';
COMMENT ON COLUMN trendmine.layout.n_sample IS 'Snippets UMAP fitted (rows of sample_vectors).';
COMMENT ON COLUMN trendmine.layout.dim IS 'Embedding dimensions.';
COMMENT ON COLUMN trendmine.layout.n_components IS 'Layout dimensions.';
COMMENT ON COLUMN trendmine.layout.params IS 'Reducer settings it was fitted with; other settings refit.';
COMMENT ON COLUMN trendmine.layout.sample_vectors IS 'The fitted sample''s embeddings, float32 little-endian, n_sample x dim.';
COMMENT ON COLUMN trendmine.layout.sample_coords IS 'Their layout positions, float32 little-endian, n_sample x n_components.';
COMMENT ON COLUMN trendmine.layout.item_keys IS 'Content keys (mining row_keys, uint64 little-endian, sorted) of every snippet the last full run placed, so the next one does not place them again.';
COMMENT ON COLUMN trendmine.layout.item_coords IS 'Their layout positions, float32 little-endian, one row of n_components per key.';
