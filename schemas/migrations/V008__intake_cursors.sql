-- trendmine V008: where each scheduled vendor pull resumes (issue 17, live intake).
-- One row per pull (zendesk, intercom, canny, gong). The cursor moves only after the broker
-- acknowledged every record of the page it follows, so a crashed pull resumes exactly.
CREATE TABLE trendmine.pull_cursors (
    pull        text PRIMARY KEY,
    cursor      jsonb NOT NULL,
    records     bigint NOT NULL DEFAULT 0,
    pages       bigint NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE trendmine.pull_cursors IS 'Resume point of each scheduled vendor API pull (intake/pulls.py).';
COMMENT ON COLUMN trendmine.pull_cursors.pull IS 'Pull name: zendesk, intercom, canny or gong.';
COMMENT ON COLUMN trendmine.pull_cursors.cursor IS 'Vendor-specific resume point (JSON): Zendesk after_cursor, Intercom updated_at + page cursor, Canny skip, Gong fromDateTime + page cursor.';
COMMENT ON COLUMN trendmine.pull_cursors.records IS 'Records published by this pull since it was created, dead letters included (each acknowledged by the broker).';
COMMENT ON COLUMN trendmine.pull_cursors.pages IS 'API pages consumed by this pull since it was created.';
COMMENT ON COLUMN trendmine.pull_cursors.updated_at IS 'When the cursor last moved.';
