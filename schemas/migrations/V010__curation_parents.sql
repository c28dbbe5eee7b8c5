-- trendmine V010: comments only (issue 12). A parent theme follows its leaves: retired when a
-- curation decision leaves it without sub-themes, not shown when most of it is in leaves that
-- are not shown (chatter, or hidden by a decision).
COMMENT ON COLUMN trends.themes.status IS 'active, retired (no longer found, or a parent theme left without sub-themes by a merge or move; its counts are then 0) or merged (see merged_into).';
COMMENT ON COLUMN trends.themes.visibility IS 'shown; hidden (a curation decision; for a parent, also when hidden sub-themes hold at least half of its snippets) or chatter (greetings, sign-offs, boilerplate, meeting logistics; for a parent, when chatter sub-themes hold at least half of its snippets): hidden by default in the trend lists and the report.';
COMMENT ON COLUMN trendmine.themes.visibility IS 'shown; hidden (by a curation decision, or a parent whose hidden leaves hold at least half of its snippets); chatter (greetings, sign-offs, boilerplate, meeting logistics found in the data, or a parent mostly made of such leaves). Hidden and chatter themes are left out of the trend lists.';
COMMENT ON COLUMN trends.theme_lineage.event IS 'birth, continue, merge, split or retire (by a mining run, or a parent emptied by a curation decision: detail names it), or rename, hide, move (curation decisions).';
COMMENT ON COLUMN trendmine.theme_lineage.event IS 'birth, continue, merge, split, retire (mining runs; or a parent emptied by a curation decision) or rename, hide, move, merge, split (curation decisions; detail holds decision_id and who).';
