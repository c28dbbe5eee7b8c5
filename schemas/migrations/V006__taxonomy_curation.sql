-- trendmine V006: a two-level theme taxonomy, phrase labels, chatter, and curation that sticks
-- (issue 12). Leaf themes (what clustering finds, stable ids) are grouped under parent themes
-- (rows of the same table, level = 'parent'); a PM's decisions (rename, merge, split, hide,
-- move) are stored with who/when and replayed by every later mining run.
ALTER TABLE trendmine.themes
    ADD COLUMN level           text   NOT NULL DEFAULT 'leaf' CHECK (level IN ('leaf', 'parent')),
    ADD COLUMN parent_theme_id bigint REFERENCES trendmine.themes,
    ADD COLUMN visibility      text   NOT NULL DEFAULT 'shown'
        CHECK (visibility IN ('shown', 'hidden', 'chatter')),
    ADD COLUMN phrases         text[] NOT NULL DEFAULT '{}';
CREATE INDEX themes_parent_idx ON trendmine.themes (parent_theme_id);
COMMENT ON COLUMN trendmine.themes.level IS 'leaf (found by clustering, snippets assigned to it) or parent (a group of leaves).';
COMMENT ON COLUMN trendmine.themes.parent_theme_id IS 'For a leaf, its parent theme (level = parent); null for a parent.';
COMMENT ON COLUMN trendmine.themes.visibility IS 'shown; hidden (by a curation decision); chatter (greetings, sign-offs, boilerplate found in the data). Hidden and chatter themes are left out of the trend lists.';
COMMENT ON COLUMN trendmine.themes.phrases IS 'Candidate label phrases from the members'' own words, best first (the label is the first unless renamed).';

ALTER TABLE trendmine.theme_lineage DROP CONSTRAINT theme_lineage_event_check;
ALTER TABLE trendmine.theme_lineage ADD CONSTRAINT theme_lineage_event_check
    CHECK (event IN ('birth', 'continue', 'merge', 'split', 'retire', 'rename', 'hide', 'move'));
COMMENT ON COLUMN trendmine.theme_lineage.event IS 'birth, continue, merge, split, retire (mining runs) or rename, hide, move, merge, split (curation decisions; detail holds decision_id and who).';

CREATE TABLE trendmine.theme_curation (
    decision_id       bigserial PRIMARY KEY,
    action            text   NOT NULL CHECK (action IN ('rename', 'merge', 'split', 'hide', 'move')),
    theme_id          bigint NOT NULL REFERENCES trendmine.themes,
    related_theme_ids bigint[] NOT NULL DEFAULT '{}',
    label             text,
    decided_by        text   NOT NULL,
    decided_at        timestamptz NOT NULL DEFAULT now(),
    active            boolean NOT NULL DEFAULT true
);
CREATE INDEX theme_curation_theme_idx ON trendmine.theme_curation (theme_id);
COMMENT ON TABLE trendmine.theme_curation IS 'Curation decisions on themes (rename, merge, split, hide, move), replayed by every mining run.';
COMMENT ON COLUMN trendmine.theme_curation.decision_id IS 'Decision id, in the order taken.';
COMMENT ON COLUMN trendmine.theme_curation.action IS 'rename (label), merge (related themes fold into theme_id), split (theme_id became related_theme_ids), hide, move (theme_id under the parent related_theme_ids[1]).';
COMMENT ON COLUMN trendmine.theme_curation.theme_id IS 'The theme decided on (the survivor of a merge).';
COMMENT ON COLUMN trendmine.theme_curation.related_theme_ids IS 'merge: the absorbed themes; split: the new sub-themes; move: the new parent.';
COMMENT ON COLUMN trendmine.theme_curation.label IS 'rename: the label the theme keeps.';
COMMENT ON COLUMN trendmine.theme_curation.decided_by IS 'Who decided (TRENDMINE_USER or the login name).';
COMMENT ON COLUMN trendmine.theme_curation.decided_at IS 'When.';
COMMENT ON COLUMN trendmine.theme_curation.active IS 'False once a later decision replaces it (e.g. a second rename).';

-- New columns go last: CREATE OR REPLACE VIEW keeps the existing ones and their COMMENTs.
CREATE OR REPLACE VIEW trends.themes AS
SELECT t.theme_id, t.label, t.keywords, t.quotes, t.size, t.n_feedback, t.n_accounts,
       t.first_seen, t.last_seen, t.status, t.merged_into, t.updated_at,
       t.parent_theme_id, t.level, t.visibility, p.label AS parent_label
FROM trendmine.themes t
LEFT JOIN trendmine.themes p ON p.theme_id = t.parent_theme_id;
COMMENT ON COLUMN trends.themes.parent_theme_id IS 'For a leaf theme, the parent theme grouping it (trends.themes.theme_id with level = parent); null for a parent.';
COMMENT ON COLUMN trends.themes.level IS 'leaf (feedback is assigned to it) or parent (a group of leaves; its counts cover its leaves).';
COMMENT ON COLUMN trends.themes.visibility IS 'shown; hidden (a curation decision) or chatter (greetings, sign-offs, boilerplate): hidden by default in the trend lists.';
COMMENT ON COLUMN trends.themes.parent_label IS 'Label of the parent theme.';

CREATE VIEW trends.theme_curation AS
SELECT d.decision_id, d.action, d.theme_id, d.related_theme_ids, d.label, d.decided_by,
       d.decided_at, d.active
FROM trendmine.theme_curation d;
COMMENT ON VIEW trends.theme_curation IS 'Curation decisions on themes, with who and when; every mining run respects the active ones.';
COMMENT ON COLUMN trends.theme_curation.decision_id IS 'Decision id, in the order taken.';
COMMENT ON COLUMN trends.theme_curation.action IS 'rename, merge, split, hide or move.';
COMMENT ON COLUMN trends.theme_curation.theme_id IS 'The theme decided on (trends.themes.theme_id; the survivor of a merge).';
COMMENT ON COLUMN trends.theme_curation.related_theme_ids IS 'merge: the absorbed themes; split: the new sub-themes; move: the new parent.';
COMMENT ON COLUMN trends.theme_curation.label IS 'rename: the label the theme keeps.';
COMMENT ON COLUMN trends.theme_curation.decided_by IS 'Who decided.';
COMMENT ON COLUMN trends.theme_curation.decided_at IS 'When.';
COMMENT ON COLUMN trends.theme_curation.active IS 'False once a later decision replaced it.';
