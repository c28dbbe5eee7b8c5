-- trendmine V004: the weighted demand score gets one home (issue 10, layering).
-- The trends rebuild (warehouse/trends.py) and the read queries (warehouse/queries.py) both
-- call these functions, so the formula cannot drift between them. mining/scoring.py keeps the
-- same formula in Python for the estimators and tests; tests/test_scoring.py proves they agree.
--
-- Both are SQL-standard bodies, IMMUTABLE and not STRICT, so the planner inlines them into the
-- calling query: no per-row function call.

CREATE FUNCTION trendmine.score_weight(keys text[], weights double precision[], key text,
                                       fallback double precision)
RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN coalesce(weights[array_position(keys, key)], fallback);

COMMENT ON FUNCTION trendmine.score_weight(text[], double precision[], text, double precision) IS
'The weight of `key` in a weight map given as parallel arrays (segment or source weights); `fallback` when the key is missing.';

CREATE FUNCTION trendmine.account_contribution(
    segment text, source_weight double precision, arr double precision,
    ref_arr double precision, seg_keys text[], seg_weights double precision[],
    arr_weight double precision, arr_cap double precision, fallback double precision)
RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN trendmine.score_weight(seg_keys, seg_weights, coalesce(nullif(segment, ''), 'unknown'),
                              fallback)
       * source_weight
       * ((1 - arr_weight)
          + arr_weight * CASE WHEN ref_arr > 0
                              THEN least(greatest(arr, 0) / ref_arr, arr_cap) ELSE 0 END);

COMMENT ON FUNCTION trendmine.account_contribution(text, double precision, double precision,
    double precision, text[], double precision[], double precision, double precision,
    double precision) IS
'One voice''s share of a theme''s weighted_score in one period: segment weight x source_weight (the largest weight among the sources the account used) x ((1 - arr_weight) + arr_weight x min(arr / ref_arr, arr_cap)). A voice is a distinct account (counted once per period however many records it sends) or one anonymous record; ref_arr is the median ARR of the known accounts.';

COMMENT ON COLUMN trends.theme_trends.weighted_score IS 'Weighted demand: the sum over the period''s voices (distinct accounts, each anonymous record) of trendmine.account_contribution: segment multiplier x source weight x an ARR term (see README, Scoring).';
COMMENT ON COLUMN trendmine.theme_trends.weighted_score IS 'Sum of trendmine.account_contribution over the distinct accounts (and anonymous records) of the theme x period x segment.';
