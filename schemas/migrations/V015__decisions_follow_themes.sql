-- trendmine V015: product decisions follow their theme through merges and splits (issue 27).
-- A curation merge moves the absorbed themes' decisions to the surviving theme (theme_id
-- changes, decided_on keeps the theme it was recorded on); a split carries the decision in
-- force to each part as a new row (carried_from), whose requesters already told stay told.

ALTER TABLE trendmine.theme_decisions
    ADD COLUMN decided_on bigint REFERENCES trendmine.themes,
    ADD COLUMN carried_from bigint REFERENCES trendmine.theme_decisions;
UPDATE trendmine.theme_decisions SET decided_on = theme_id WHERE decided_on IS NULL;
COMMENT ON COLUMN trendmine.theme_decisions.theme_id IS 'The theme the decision is on now: the one decided on, or the theme it was merged into.';
COMMENT ON COLUMN trendmine.theme_decisions.decided_on IS 'The theme the decision was recorded on (before any merge).';
COMMENT ON COLUMN trendmine.theme_decisions.carried_from IS 'For a part of a split theme: the decision on the split theme this row carries over; null for a decision recorded by hand.';
