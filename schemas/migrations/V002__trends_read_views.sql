-- trendmine V002: the "trends" schema, the only public read surface (PMs and BI tools).
-- Views run with their owner's rights, so a read-only role needs USAGE on "trends" only.
CREATE SCHEMA IF NOT EXISTS trends;
COMMENT ON SCHEMA trends IS 'trendmine read models for product managers and BI tools: documented, read-only views.';

CREATE VIEW trends.feedback_themes AS
SELECT ft.feedback_id,
       ft.theme_id,
       count(*)::integer        AS snippets,
       max(ft.similarity)       AS best_similarity
FROM trendmine.feedback_theme ft
GROUP BY ft.feedback_id, ft.theme_id;
COMMENT ON VIEW trends.feedback_themes IS 'Every theme a feedback record mentions (a long call can mention several).';
COMMENT ON COLUMN trends.feedback_themes.feedback_id IS 'The feedback record (trends.feedback.feedback_id).';
COMMENT ON COLUMN trends.feedback_themes.theme_id IS 'A theme the record mentions (trends.themes.theme_id).';
COMMENT ON COLUMN trends.feedback_themes.snippets IS 'How many snippets of the record fall in this theme.';
COMMENT ON COLUMN trends.feedback_themes.best_similarity IS 'Highest cosine similarity of those snippets to the theme centroid.';

CREATE VIEW trends.feedback AS
SELECT f.feedback_id,
       f.source,
       f.source_id,
       f.account_id,
       a.name                    AS account_name,
       a.segment,
       a.arr,
       f.opportunity_id,
       f.author,
       f.votes,
       f.url,
       f.text,
       f.created_at,
       f.updated_at,
       pt.theme_id,
       t.label                   AS theme_label
FROM trendmine.feedback f
LEFT JOIN trendmine.accounts a ON a.account_id = f.account_id
LEFT JOIN LATERAL (
    SELECT ftv.theme_id
    FROM trends.feedback_themes ftv
    WHERE ftv.feedback_id = f.feedback_id
    ORDER BY ftv.snippets DESC, ftv.best_similarity DESC NULLS LAST, ftv.theme_id
    LIMIT 1
) pt ON true
LEFT JOIN trendmine.themes t ON t.theme_id = pt.theme_id;
COMMENT ON VIEW trends.feedback IS 'One row per stored feedback record with its account and main theme.';
COMMENT ON COLUMN trends.feedback.feedback_id IS 'Stable id of the record in trendmine.';
COMMENT ON COLUMN trends.feedback.source IS 'crm_notes, support_tickets, ideas or sales_calls.';
COMMENT ON COLUMN trends.feedback.source_id IS 'The record id in its own system.';
COMMENT ON COLUMN trends.feedback.account_id IS 'Customer account it came from (null for an unknown prospect).';
COMMENT ON COLUMN trends.feedback.account_name IS 'Account name (null until the account arrives from the CRM).';
COMMENT ON COLUMN trends.feedback.segment IS 'Current segment of the account: enterprise, mid_market, smb, ...';
COMMENT ON COLUMN trends.feedback.arr IS 'Current annual recurring revenue of the account.';
COMMENT ON COLUMN trends.feedback.opportunity_id IS 'Linked CRM opportunity, when known.';
COMMENT ON COLUMN trends.feedback.author IS 'Who wrote or said it.';
COMMENT ON COLUMN trends.feedback.votes IS 'Idea-portal vote score (ideas only).';
COMMENT ON COLUMN trends.feedback.url IS 'Link back to the record in its system.';
COMMENT ON COLUMN trends.feedback.text IS 'Normalised feedback text with PII replaced by typed placeholders.';
COMMENT ON COLUMN trends.feedback.created_at IS 'When the customer said it.';
COMMENT ON COLUMN trends.feedback.updated_at IS 'Last edit in the source system.';
COMMENT ON COLUMN trends.feedback.theme_id IS 'Main theme of the record; null = not yet mined, or noise.';
COMMENT ON COLUMN trends.feedback.theme_label IS 'Label of the main theme.';

CREATE VIEW trends.themes AS
SELECT t.theme_id, t.label, t.keywords, t.quotes, t.size, t.n_feedback, t.n_accounts,
       t.first_seen, t.last_seen, t.status, t.merged_into, t.updated_at
FROM trendmine.themes t;
COMMENT ON VIEW trends.themes IS 'Themes found in the feedback; theme_id is stable across runs.';
COMMENT ON COLUMN trends.themes.theme_id IS 'Stable theme id: kept across re-clusterings.';
COMMENT ON COLUMN trends.themes.label IS 'Short readable label.';
COMMENT ON COLUMN trends.themes.keywords IS 'Top keywords by class-based TF-IDF (unigrams and bigrams).';
COMMENT ON COLUMN trends.themes.quotes IS 'Representative quotes close to the centroid, from different accounts (JSON list).';
COMMENT ON COLUMN trends.themes.size IS 'Snippets assigned to the theme.';
COMMENT ON COLUMN trends.themes.n_feedback IS 'Distinct feedback records mentioning the theme.';
COMMENT ON COLUMN trends.themes.n_accounts IS 'Distinct accounts mentioning the theme.';
COMMENT ON COLUMN trends.themes.first_seen IS 'Earliest feedback in the theme.';
COMMENT ON COLUMN trends.themes.last_seen IS 'Latest feedback in the theme.';
COMMENT ON COLUMN trends.themes.status IS 'active, retired (no longer found) or merged (see merged_into).';
COMMENT ON COLUMN trends.themes.merged_into IS 'For a merged theme, the theme it now lives on in.';
COMMENT ON COLUMN trends.themes.updated_at IS 'When mining last changed the theme.';

CREATE VIEW trends.theme_trends AS
SELECT tt.theme_id, t.label, tt.grain, tt.period_start, tt.segment, tt.mentions, tt.accounts,
       tt.arr, tt.pipeline, tt.weighted_score, tt.mentions_prev, tt.growth, tt.computed_at
FROM trendmine.theme_trends tt
JOIN trendmine.themes t USING (theme_id);
COMMENT ON VIEW trends.theme_trends IS 'Demand per theme x period x segment; segment = ''all'' sums every segment (accounts counted once).';
COMMENT ON COLUMN trends.theme_trends.theme_id IS 'Theme (trends.themes.theme_id).';
COMMENT ON COLUMN trends.theme_trends.label IS 'Theme label.';
COMMENT ON COLUMN trends.theme_trends.grain IS 'Period length: day, week or month.';
COMMENT ON COLUMN trends.theme_trends.period_start IS 'First day of the period (weeks start on Monday).';
COMMENT ON COLUMN trends.theme_trends.segment IS 'Account segment as of the period, or ''all''; ''unknown'' for feedback without a known account.';
COMMENT ON COLUMN trends.theme_trends.mentions IS 'Feedback records mentioning the theme (records, not snippets).';
COMMENT ON COLUMN trends.theme_trends.accounts IS 'Distinct accounts mentioning the theme.';
COMMENT ON COLUMN trends.theme_trends.arr IS 'ARR of those accounts as of the period, each account counted once.';
COMMENT ON COLUMN trends.theme_trends.pipeline IS 'Amount of distinct open opportunities linked to that feedback.';
COMMENT ON COLUMN trends.theme_trends.weighted_score IS 'Weighted demand: segment multipliers x source weights over accounts and ARR (see README, Scoring).';
COMMENT ON COLUMN trends.theme_trends.mentions_prev IS 'Mentions in the previous period.';
COMMENT ON COLUMN trends.theme_trends.growth IS 'Relative change of weighted_score against the mean of the previous periods.';
COMMENT ON COLUMN trends.theme_trends.computed_at IS 'When the row was last rebuilt.';

CREATE VIEW trends.emerging_themes AS
SELECT e.rank, e.theme_id, t.label, e.is_new, e.grain, e.period_start, e.mentions, e.accounts,
       e.arr, e.pipeline, e.observed, e.expected, e.statistic, e.p_value, e.threshold,
       e.evidence, e.computed_at
FROM trendmine.theme_emerging e
JOIN trendmine.themes t USING (theme_id);
COMMENT ON VIEW trends.emerging_themes IS 'Themes whose weighted demand rises faster than their own history explains, ranked, with evidence.';
COMMENT ON COLUMN trends.emerging_themes.rank IS '1 = most surprising rise.';
COMMENT ON COLUMN trends.emerging_themes.theme_id IS 'Theme (trends.themes.theme_id).';
COMMENT ON COLUMN trends.emerging_themes.label IS 'Theme label.';
COMMENT ON COLUMN trends.emerging_themes.is_new IS 'True when the theme has no history before the recent window.';
COMMENT ON COLUMN trends.emerging_themes.grain IS 'Period length the statistic was computed on.';
COMMENT ON COLUMN trends.emerging_themes.period_start IS 'Start of the recent window tested.';
COMMENT ON COLUMN trends.emerging_themes.mentions IS 'Feedback records in the recent window.';
COMMENT ON COLUMN trends.emerging_themes.accounts IS 'Distinct accounts in the recent window.';
COMMENT ON COLUMN trends.emerging_themes.arr IS 'ARR of those accounts, each counted once.';
COMMENT ON COLUMN trends.emerging_themes.pipeline IS 'Open pipeline linked to that feedback.';
COMMENT ON COLUMN trends.emerging_themes.observed IS 'Weighted demand observed in the recent window.';
COMMENT ON COLUMN trends.emerging_themes.expected IS 'Weighted demand the theme''s own baseline predicts for the window.';
COMMENT ON COLUMN trends.emerging_themes.statistic IS 'Surprise statistic (see evidence.method); larger = more surprising.';
COMMENT ON COLUMN trends.emerging_themes.p_value IS 'Probability of at least the observed demand under the baseline.';
COMMENT ON COLUMN trends.emerging_themes.threshold IS 'The statistic a theme must exceed to be listed.';
COMMENT ON COLUMN trends.emerging_themes.evidence IS 'JSON: counts per period, accounts, ARR, method and parameters.';
COMMENT ON COLUMN trends.emerging_themes.computed_at IS 'When the detection last ran.';

CREATE VIEW trends.accounts AS
SELECT a.account_id, a.name, a.segment, a.arr, a.icp_fit, a.region, a.plan, a.updated_at,
       coalesce(o.open_pipeline, 0) AS open_pipeline,
       coalesce(o.open_deals, 0)    AS open_deals
FROM trendmine.accounts a
LEFT JOIN (
    SELECT account_id, sum(amount) AS open_pipeline, count(*)::integer AS open_deals
    FROM trendmine.opportunities WHERE stage = 'open' GROUP BY account_id
) o USING (account_id);
COMMENT ON VIEW trends.accounts IS 'CRM accounts with their current segment, ARR and open pipeline.';
COMMENT ON COLUMN trends.accounts.account_id IS 'Account id in the CRM.';
COMMENT ON COLUMN trends.accounts.name IS 'Account name.';
COMMENT ON COLUMN trends.accounts.segment IS 'Current segment: enterprise, mid_market, smb, ...';
COMMENT ON COLUMN trends.accounts.arr IS 'Current annual recurring revenue.';
COMMENT ON COLUMN trends.accounts.icp_fit IS 'Ideal-customer-profile fit, 0 to 1.';
COMMENT ON COLUMN trends.accounts.region IS 'Sales region.';
COMMENT ON COLUMN trends.accounts.plan IS 'Product plan.';
COMMENT ON COLUMN trends.accounts.updated_at IS 'Time of the newest CRM snapshot.';
COMMENT ON COLUMN trends.accounts.open_pipeline IS 'Sum of open opportunity amounts.';
COMMENT ON COLUMN trends.accounts.open_deals IS 'Number of open opportunities.';

CREATE VIEW trends.theme_lineage AS
SELECT l.lineage_id, l.run_id, l.event, l.theme_id, l.related_theme_ids, l.similarity, l.overlap,
       l.detail, l.at
FROM trendmine.theme_lineage l;
COMMENT ON VIEW trends.theme_lineage IS 'How themes were born, continued, merged, split and retired across mining runs.';
COMMENT ON COLUMN trends.theme_lineage.lineage_id IS 'Event id.';
COMMENT ON COLUMN trends.theme_lineage.run_id IS 'Mining run (trends.pipeline_runs.run_id).';
COMMENT ON COLUMN trends.theme_lineage.event IS 'birth, continue, merge, split or retire.';
COMMENT ON COLUMN trends.theme_lineage.theme_id IS 'The theme the event is about.';
COMMENT ON COLUMN trends.theme_lineage.related_theme_ids IS 'Themes merged into it, or split from it.';
COMMENT ON COLUMN trends.theme_lineage.similarity IS 'Centroid cosine similarity of the match.';
COMMENT ON COLUMN trends.theme_lineage.overlap IS 'Share of members carried over.';
COMMENT ON COLUMN trends.theme_lineage.detail IS 'JSON details of the event.';
COMMENT ON COLUMN trends.theme_lineage.at IS 'When it was recorded.';

CREATE VIEW trends.pipeline_runs AS
SELECT r.run_id, r.flow, r.started_at, r.ended_at, r.status, r.counts, r.params, r.model, r.error
FROM trendmine.pipeline_runs r;
COMMENT ON VIEW trends.pipeline_runs IS 'Every pipeline run: timing, status, counts per stage, model and parameters.';
COMMENT ON COLUMN trends.pipeline_runs.run_id IS 'Run id.';
COMMENT ON COLUMN trends.pipeline_runs.flow IS 'Flow name: ingest, mine, trends or pipeline.';
COMMENT ON COLUMN trends.pipeline_runs.started_at IS 'Start time.';
COMMENT ON COLUMN trends.pipeline_runs.ended_at IS 'End time (null while running).';
COMMENT ON COLUMN trends.pipeline_runs.status IS 'running, completed or failed.';
COMMENT ON COLUMN trends.pipeline_runs.counts IS 'JSON counts in/out per stage.';
COMMENT ON COLUMN trends.pipeline_runs.params IS 'JSON parameters of the run.';
COMMENT ON COLUMN trends.pipeline_runs.model IS 'Embedding model used.';
COMMENT ON COLUMN trends.pipeline_runs.error IS 'Error message of a failed run.';
