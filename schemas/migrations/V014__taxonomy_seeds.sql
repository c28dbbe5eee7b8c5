-- trendmine V014: a taxonomy the PM can seed (issue 26). A seed is a theme the PM names, with a
-- few example requests; every mining run puts the records that belong to a seed into the seed's
-- theme (a stable id, the PM's name) and still discovers the needs no seed covers. Imports are
-- audited (who, when, what changed) and idempotent.
ALTER TABLE trendmine.themes
    ADD COLUMN origin text NOT NULL DEFAULT 'discovered' CHECK (origin IN ('seeded', 'discovered'));
COMMENT ON COLUMN trendmine.themes.origin IS 'seeded (a theme of the PM''s taxonomy: trendmine.taxonomy_seeds) or discovered (found by clustering).';

CREATE TABLE trendmine.taxonomy_imports (
    import_id    bigserial PRIMARY KEY,
    source       text        NOT NULL,
    imported_by  text        NOT NULL,
    imported_at  timestamptz NOT NULL DEFAULT now(),
    added        integer     NOT NULL DEFAULT 0,
    changed      integer     NOT NULL DEFAULT 0,
    unchanged    integer     NOT NULL DEFAULT 0,
    removed      integer     NOT NULL DEFAULT 0
);
COMMENT ON TABLE trendmine.taxonomy_imports IS 'One row per `trendmine taxonomy import`: who, when, which file, and how many seeds it added, changed, left unchanged and removed.';
COMMENT ON COLUMN trendmine.taxonomy_imports.import_id IS 'Import id, in the order run.';
COMMENT ON COLUMN trendmine.taxonomy_imports.source IS 'The file imported (its name as given).';
COMMENT ON COLUMN trendmine.taxonomy_imports.imported_by IS 'Who imported (--by, else TRENDMINE_USER or the login name).';
COMMENT ON COLUMN trendmine.taxonomy_imports.imported_at IS 'When.';
COMMENT ON COLUMN trendmine.taxonomy_imports.added IS 'Seeds new in this import.';
COMMENT ON COLUMN trendmine.taxonomy_imports.changed IS 'Seeds whose name, description, examples or parent changed.';
COMMENT ON COLUMN trendmine.taxonomy_imports.unchanged IS 'Seeds imported exactly as they were.';
COMMENT ON COLUMN trendmine.taxonomy_imports.removed IS 'Seeds left out of the file (their themes become discovered ones again).';

CREATE TABLE trendmine.taxonomy_seeds (
    seed_id      bigserial   PRIMARY KEY,
    theme_id     bigint      NOT NULL UNIQUE REFERENCES trendmine.themes,
    name         text        NOT NULL,
    description  text,
    examples     text[]      NOT NULL,
    parent       text,
    active       boolean     NOT NULL DEFAULT true,
    import_id    bigint      NOT NULL REFERENCES trendmine.taxonomy_imports,
    created_by   text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_by   text        NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX taxonomy_seeds_name_idx ON trendmine.taxonomy_seeds (lower(name)) WHERE active;
COMMENT ON TABLE trendmine.taxonomy_seeds IS 'The PM''s taxonomy: one row per seeded theme, replayed by every full mining run.';
COMMENT ON COLUMN trendmine.taxonomy_seeds.seed_id IS 'Seed id.';
COMMENT ON COLUMN trendmine.taxonomy_seeds.theme_id IS 'The seed''s theme (stable: kept across imports and mining runs).';
COMMENT ON COLUMN trendmine.taxonomy_seeds.name IS 'The PM''s name for the theme (its label).';
COMMENT ON COLUMN trendmine.taxonomy_seeds.description IS 'What the theme covers, in the PM''s words (optional).';
COMMENT ON COLUMN trendmine.taxonomy_seeds.examples IS 'A few requests that belong to the theme.';
COMMENT ON COLUMN trendmine.taxonomy_seeds.parent IS 'The family the theme belongs to (a parent theme of that name), optional.';
COMMENT ON COLUMN trendmine.taxonomy_seeds.active IS 'False once an import left the seed out.';
COMMENT ON COLUMN trendmine.taxonomy_seeds.import_id IS 'The import that last added or changed the seed.';
COMMENT ON COLUMN trendmine.taxonomy_seeds.created_by IS 'Who first imported the seed.';
COMMENT ON COLUMN trendmine.taxonomy_seeds.created_at IS 'When.';
COMMENT ON COLUMN trendmine.taxonomy_seeds.updated_by IS 'Who last changed it (an import that left it as it was does not count).';
COMMENT ON COLUMN trendmine.taxonomy_seeds.updated_at IS 'When.';

-- New columns go last: CREATE OR REPLACE VIEW keeps the existing ones and their COMMENTs.
CREATE OR REPLACE VIEW trends.themes AS
SELECT t.theme_id, t.label, t.keywords, t.quotes, t.size, t.n_feedback, t.n_accounts,
       t.first_seen, t.last_seen, t.status, t.merged_into, t.updated_at,
       t.parent_theme_id, t.level, t.visibility, p.label AS parent_label, t.origin
FROM trendmine.themes t
LEFT JOIN trendmine.themes p ON p.theme_id = t.parent_theme_id;
COMMENT ON COLUMN trends.themes.origin IS 'seeded (a theme of the PM''s taxonomy, `trendmine taxonomy import`; trends.taxonomy_seeds) or discovered (found by clustering: a need no seed covers). A parent is seeded when it is named by its seeds'' parent.';

CREATE VIEW trends.taxonomy_seeds AS
SELECT s.seed_id, s.theme_id, s.name, s.description, s.examples, s.parent, s.active,
       s.created_by, s.created_at, s.updated_by, s.updated_at
FROM trendmine.taxonomy_seeds s;
COMMENT ON VIEW trends.taxonomy_seeds IS 'The PM''s taxonomy (seeded themes), with who imported each seed and when.';
COMMENT ON COLUMN trends.taxonomy_seeds.seed_id IS 'Seed id.';
COMMENT ON COLUMN trends.taxonomy_seeds.theme_id IS 'The seed''s theme (trends.themes.theme_id).';
COMMENT ON COLUMN trends.taxonomy_seeds.name IS 'The PM''s name for the theme.';
COMMENT ON COLUMN trends.taxonomy_seeds.description IS 'What the theme covers (optional).';
COMMENT ON COLUMN trends.taxonomy_seeds.examples IS 'A few requests that belong to the theme.';
COMMENT ON COLUMN trends.taxonomy_seeds.parent IS 'The family (parent theme name), optional.';
COMMENT ON COLUMN trends.taxonomy_seeds.active IS 'False once an import left the seed out.';
COMMENT ON COLUMN trends.taxonomy_seeds.created_by IS 'Who first imported the seed.';
COMMENT ON COLUMN trends.taxonomy_seeds.created_at IS 'When.';
COMMENT ON COLUMN trends.taxonomy_seeds.updated_by IS 'Who last changed it.';
COMMENT ON COLUMN trends.taxonomy_seeds.updated_at IS 'When.';

CREATE VIEW trends.taxonomy_imports AS
SELECT i.import_id, i.source, i.imported_by, i.imported_at, i.added, i.changed, i.unchanged,
       i.removed
FROM trendmine.taxonomy_imports i;
COMMENT ON VIEW trends.taxonomy_imports IS 'Audit of taxonomy imports: who, when, which file, what changed.';
COMMENT ON COLUMN trends.taxonomy_imports.import_id IS 'Import id, in the order run.';
COMMENT ON COLUMN trends.taxonomy_imports.source IS 'The file imported.';
COMMENT ON COLUMN trends.taxonomy_imports.imported_by IS 'Who imported.';
COMMENT ON COLUMN trends.taxonomy_imports.imported_at IS 'When.';
COMMENT ON COLUMN trends.taxonomy_imports.added IS 'Seeds new in this import.';
COMMENT ON COLUMN trends.taxonomy_imports.changed IS 'Seeds that changed.';
COMMENT ON COLUMN trends.taxonomy_imports.unchanged IS 'Seeds imported exactly as they were.';
COMMENT ON COLUMN trends.taxonomy_imports.removed IS 'Seeds left out of the file.';
