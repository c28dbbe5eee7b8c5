-- trendmine V005: the sales <-> product loop (issue 11).
-- Deals behind each theme, win/loss per theme, revenue debt (poor ICP fit), source mix, and the
-- decisions on themes with one notification per requesting account (topic feedback.loop).
--
-- The parameters (ICP threshold, deal look-back, ...) live in trendmine.sales_params, written
-- from the settings by warehouse.sales.rebuild_sales; the views read them, so each formula is
-- written once, here. The CLI overrides them inside a rolled-back transaction.

-- ---------------------------------------------------------------- parameters
CREATE TABLE trendmine.sales_params (
    singleton                         boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    icp_fit_threshold                 double precision NOT NULL DEFAULT 0.4,
    revenue_debt_share                double precision NOT NULL DEFAULT 0.5,
    fit_min_accounts                  integer NOT NULL DEFAULT 5,
    deal_lookback_days                integer NOT NULL DEFAULT 180,
    sales_special_max_other_accounts  integer NOT NULL DEFAULT 1,
    market_wide_share                 double precision NOT NULL DEFAULT 0.35,
    winloss_min_deals                 integer NOT NULL DEFAULT 8,
    winloss_fdr                       double precision NOT NULL DEFAULT 0.1,
    winloss_since_days                integer NOT NULL DEFAULT 365,
    updated_at                        timestamptz NOT NULL DEFAULT now()
);
INSERT INTO trendmine.sales_params DEFAULT VALUES;
COMMENT ON TABLE trendmine.sales_params IS 'One row: the sales-loop settings the trends views use, written by the last sales rebuild (TRENDMINE_* settings of the same names).';
COMMENT ON COLUMN trendmine.sales_params.singleton IS 'Always true: the table holds one row.';
COMMENT ON COLUMN trendmine.sales_params.icp_fit_threshold IS 'An account with icp_fit below this is a poor fit.';
COMMENT ON COLUMN trendmine.sales_params.revenue_debt_share IS 'A theme is revenue debt when the poor-fit share of its requesting accounts (known fit only) exceeds this.';
COMMENT ON COLUMN trendmine.sales_params.fit_min_accounts IS 'Requesting accounts with a known fit a theme needs before it can be flagged as revenue debt.';
COMMENT ON COLUMN trendmine.sales_params.deal_lookback_days IS 'Feedback from a deal''s account counts for the deal when said this many days before its close date (open deals: before the day of the newest feedback).';
COMMENT ON COLUMN trendmine.sales_params.sales_special_max_other_accounts IS 'A theme a deal raises is a sales special when at most this many other accounts ask for it.';
COMMENT ON COLUMN trendmine.sales_params.market_wide_share IS 'A theme is market-wide when at least this share of the accounts that gave feedback ask for it.';
COMMENT ON COLUMN trendmine.sales_params.winloss_min_deals IS 'Closed deals a theme needs before its win/loss is tested; below it is small_sample.';
COMMENT ON COLUMN trendmine.sales_params.winloss_fdr IS 'Benjamini-Hochberg false discovery rate for over-representation in lost deals.';
COMMENT ON COLUMN trendmine.sales_params.winloss_since_days IS 'Window of closed deals (by close date, back from the day of the newest feedback) that trends.theme_winloss tests.';
COMMENT ON COLUMN trendmine.sales_params.updated_at IS 'When the parameters were last written.';

-- ---------------------------------------------------------------- building blocks (internal)
CREATE VIEW trendmine.theme_records AS
SELECT m.theme_id, f.feedback_id, f.account_id, f.source, f.source_id, f.opportunity_id,
       f.author, f.created_at
FROM (SELECT DISTINCT feedback_id, theme_id FROM trendmine.feedback_theme) m
JOIN trendmine.feedback f USING (feedback_id);
COMMENT ON VIEW trendmine.theme_records IS 'One row per theme x feedback record that mentions it (records, not snippets).';

-- The sales loop's "today": the day of the newest feedback (as the emerging detection does), so
-- a world loaded from the past reads as of its own end; today when there is no feedback.
CREATE VIEW trendmine.sales_as_of AS
SELECT (coalesce(max(created_at), now()) AT TIME ZONE 'UTC')::date AS as_of
FROM trendmine.feedback;
COMMENT ON VIEW trendmine.sales_as_of IS 'One row: the reference day of the sales views, the UTC day of the newest feedback (today without feedback).';

CREATE VIEW trendmine.deal_records AS
WITH d AS (
    SELECT o.opportunity_id, o.account_id,
           -- the day the deal's conversation ended: as_of while open, else its close date
           CASE WHEN o.stage = 'open' THEN (SELECT as_of FROM trendmine.sales_as_of)
                ELSE coalesce(o.close_date, (o.updated_at AT TIME ZONE 'UTC')::date) END AS window_end
    FROM trendmine.opportunities o
)
SELECT d.opportunity_id, r.theme_id, r.feedback_id, 'opportunity'::text AS link
FROM d JOIN trendmine.theme_records r ON r.opportunity_id = d.opportunity_id
UNION ALL
SELECT d.opportunity_id, r.theme_id, r.feedback_id, 'account'::text AS link
FROM d
CROSS JOIN trendmine.sales_params p
JOIN trendmine.theme_records r
  ON r.account_id = d.account_id
 AND r.opportunity_id IS NULL  -- feedback naming another deal belongs to that deal
 AND r.created_at >= (d.window_end - p.deal_lookback_days)::timestamp AT TIME ZONE 'UTC'
 AND r.created_at < (d.window_end + 1)::timestamp AT TIME ZONE 'UTC';
COMMENT ON VIEW trendmine.deal_records IS 'Feedback behind each deal and theme: linked by opportunity_id, or from the deal''s account within deal_lookback_days before it closed.';

-- ---------------------------------------------------------------- decisions and the loop
CREATE TABLE trendmine.theme_decisions (
    decision_id  bigserial PRIMARY KEY,
    theme_id     bigint      NOT NULL REFERENCES trendmine.themes,
    decision     text        NOT NULL CHECK (decision IN ('shipped', 'planned', 'declined')),
    note         text,
    decided_by   text,
    decided_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX theme_decisions_theme_idx ON trendmine.theme_decisions (theme_id, decided_at DESC);
COMMENT ON TABLE trendmine.theme_decisions IS 'Every product decision on a theme (`trendmine theme status`); the newest one per theme is in force.';
COMMENT ON COLUMN trendmine.theme_decisions.decision_id IS 'Decision id; part of every loop event id.';
COMMENT ON COLUMN trendmine.theme_decisions.theme_id IS 'The theme decided on.';
COMMENT ON COLUMN trendmine.theme_decisions.decision IS 'shipped, planned or declined.';
COMMENT ON COLUMN trendmine.theme_decisions.note IS 'What the requesters are told.';
COMMENT ON COLUMN trendmine.theme_decisions.decided_by IS 'Who recorded the decision.';
COMMENT ON COLUMN trendmine.theme_decisions.decided_at IS 'When it was recorded.';

CREATE TABLE trendmine.loop_notifications (
    decision_id  bigint      NOT NULL REFERENCES trendmine.theme_decisions,
    account_id   text        NOT NULL,
    event_id     text        GENERATED ALWAYS AS (decision_id::text || ':' || account_id) STORED,
    created_at   timestamptz NOT NULL DEFAULT now(),
    notified_at  timestamptz,
    PRIMARY KEY (decision_id, account_id)
);
CREATE INDEX loop_notifications_pending_idx ON trendmine.loop_notifications (decision_id)
    WHERE notified_at IS NULL;
COMMENT ON TABLE trendmine.loop_notifications IS 'One row per decision x requesting account: pending until its feedback.loop event was acknowledged by the brokers.';
COMMENT ON COLUMN trendmine.loop_notifications.decision_id IS 'The decision to tell (trendmine.theme_decisions).';
COMMENT ON COLUMN trendmine.loop_notifications.account_id IS 'The requesting account.';
COMMENT ON COLUMN trendmine.loop_notifications.event_id IS 'Stable event id (decision_id:account_id), sent in the event so consumers drop a republished duplicate.';
COMMENT ON COLUMN trendmine.loop_notifications.created_at IS 'When the notification became due.';
COMMENT ON COLUMN trendmine.loop_notifications.notified_at IS 'When its event was acknowledged (acks=all); null = pending.';

CREATE VIEW trendmine.current_decisions AS
SELECT DISTINCT ON (d.theme_id) d.decision_id, d.theme_id, d.decision, d.note, d.decided_by,
       d.decided_at
FROM trendmine.theme_decisions d
ORDER BY d.theme_id, d.decided_at DESC, d.decision_id DESC;
COMMENT ON VIEW trendmine.current_decisions IS 'The decision in force per theme: its newest one.';

-- ---------------------------------------------------------------- win/loss (written in Python)
CREATE TABLE trendmine.theme_winloss (
    theme_id            bigint  PRIMARY KEY REFERENCES trendmine.themes,
    deals_won           integer NOT NULL,
    deals_lost          integer NOT NULL,
    amount_won          numeric(18, 2) NOT NULL,
    amount_lost         numeric(18, 2) NOT NULL,
    loss_rate           double precision,
    expected_loss_rate  double precision,
    p_value             double precision,
    q_value             double precision,
    over_represented    boolean NOT NULL,
    small_sample        boolean NOT NULL,
    loss_reasons        jsonb   NOT NULL DEFAULT '{}'::jsonb,
    window_start        date    NOT NULL,
    computed_at         timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE trendmine.theme_winloss IS 'Win/loss per theme from the last sales rebuild (Fisher''s exact test per theme vs the rest, Benjamini-Hochberg across themes).';
COMMENT ON COLUMN trendmine.theme_winloss.theme_id IS 'Theme tested.';
COMMENT ON COLUMN trendmine.theme_winloss.deals_won IS 'Won deals of the window raising the theme.';
COMMENT ON COLUMN trendmine.theme_winloss.deals_lost IS 'Lost deals of the window raising the theme.';
COMMENT ON COLUMN trendmine.theme_winloss.amount_won IS 'Amount of those won deals.';
COMMENT ON COLUMN trendmine.theme_winloss.amount_lost IS 'Amount of those lost deals.';
COMMENT ON COLUMN trendmine.theme_winloss.loss_rate IS 'deals_lost / closed deals.';
COMMENT ON COLUMN trendmine.theme_winloss.expected_loss_rate IS 'Loss rate of the other closed deals of the window.';
COMMENT ON COLUMN trendmine.theme_winloss.p_value IS 'One-sided Fisher''s exact p-value; null for a small sample.';
COMMENT ON COLUMN trendmine.theme_winloss.q_value IS 'Benjamini-Hochberg adjusted p-value across the tested themes.';
COMMENT ON COLUMN trendmine.theme_winloss.over_represented IS 'q_value <= winloss_fdr (never for a small sample).';
COMMENT ON COLUMN trendmine.theme_winloss.small_sample IS 'Fewer than winloss_min_deals closed deals: not tested.';
COMMENT ON COLUMN trendmine.theme_winloss.loss_reasons IS 'JSON: loss reason -> lost deals.';
COMMENT ON COLUMN trendmine.theme_winloss.window_start IS 'First close date of the window.';
COMMENT ON COLUMN trendmine.theme_winloss.computed_at IS 'When the sales rebuild wrote the row.';

-- ---------------------------------------------------------------- the public views
CREATE VIEW trends.deal_themes AS
WITH dt AS MATERIALIZED (
    SELECT r.opportunity_id, r.theme_id, o.account_id,
           count(DISTINCT r.feedback_id)::integer AS mentions,
           bool_or(r.link = 'opportunity') AS linked
    FROM trendmine.deal_records r
    JOIN trendmine.opportunities o USING (opportunity_id)
    GROUP BY r.opportunity_id, r.theme_id, o.account_id
), req AS MATERIALIZED (  -- every requesting account per theme, with its ARR and segment
    SELECT DISTINCT r.theme_id, r.account_id, coalesce(a.arr, 0) AS arr,
           coalesce(a.segment, 'unknown') AS segment
    FROM trendmine.theme_records r
    LEFT JOIN trendmine.accounts a ON a.account_id = r.account_id
    WHERE r.account_id IS NOT NULL
), market AS MATERIALIZED (
    SELECT count(DISTINCT account_id) AS accounts FROM trendmine.feedback WHERE account_id IS NOT NULL
), tstat AS MATERIALIZED (
    SELECT req.theme_id, count(*) AS accounts, sum(req.arr) AS arr,
           count(*) >= max(p.market_wide_share) * max(m.accounts) AS market_wide
    FROM req CROSS JOIN market m CROSS JOIN trendmine.sales_params p
    GROUP BY req.theme_id
), tseg AS MATERIALIZED (
    SELECT theme_id, segment, count(*) AS n FROM req GROUP BY theme_id, segment
), own AS MATERIALIZED (  -- the deal's own account, when it asks for the theme: not "other"
    SELECT dt.opportunity_id, dt.theme_id, r.arr, r.segment
    FROM dt JOIN req r ON r.theme_id = dt.theme_id AND r.account_id = dt.account_id
), oseg AS (
    SELECT dt.opportunity_id, dt.theme_id, array_agg(s.segment ORDER BY s.segment) AS segments
    FROM dt
    JOIN tseg s ON s.theme_id = dt.theme_id
    LEFT JOIN own ON own.opportunity_id = dt.opportunity_id AND own.theme_id = dt.theme_id
    WHERE s.n - coalesce((s.segment = own.segment)::integer, 0) > 0
    GROUP BY dt.opportunity_id, dt.theme_id
)
SELECT o.opportunity_id, o.account_id, o.stage, o.amount, o.close_date, dt.theme_id, t.label,
       dt.mentions,
       (ts.accounts - (own.theme_id IS NOT NULL)::integer)::integer AS other_accounts,
       (ts.arr - coalesce(own.arr, 0))::numeric(18, 2) AS other_accounts_arr,
       (ts.accounts - (own.theme_id IS NOT NULL)::integer
        <= p.sales_special_max_other_accounts) AS sales_special,
       (ts.accounts - (own.theme_id IS NOT NULL)::integer > p.sales_special_max_other_accounts
        AND ts.market_wide) AS market_wide,
       coalesce(oseg.segments, '{}') AS other_segments,
       EXISTS (SELECT 1 FROM trendmine.theme_emerging e WHERE e.theme_id = dt.theme_id) AS emerging,
       dt.linked,
       o.name AS opportunity_name,
       a.name AS account_name,
       o.loss_reason
FROM dt
JOIN trendmine.opportunities o ON o.opportunity_id = dt.opportunity_id
JOIN trendmine.themes t ON t.theme_id = dt.theme_id
JOIN tstat ts ON ts.theme_id = dt.theme_id
CROSS JOIN trendmine.sales_params p
LEFT JOIN own ON own.opportunity_id = dt.opportunity_id AND own.theme_id = dt.theme_id
LEFT JOIN oseg ON oseg.opportunity_id = dt.opportunity_id AND oseg.theme_id = dt.theme_id
LEFT JOIN trendmine.accounts a ON a.account_id = o.account_id;
COMMENT ON VIEW trends.deal_themes IS 'One row per deal x theme its notes and calls raise (feedback linked by opportunity_id, or from the deal''s account while the deal was open), with the evidence from every other account.';
COMMENT ON COLUMN trends.deal_themes.opportunity_id IS 'The deal (CRM opportunity).';
COMMENT ON COLUMN trends.deal_themes.account_id IS 'The deal''s account.';
COMMENT ON COLUMN trends.deal_themes.stage IS 'open, won or lost.';
COMMENT ON COLUMN trends.deal_themes.amount IS 'Deal amount.';
COMMENT ON COLUMN trends.deal_themes.close_date IS 'Close date (expected close date while open); null when the CRM has none.';
COMMENT ON COLUMN trends.deal_themes.theme_id IS 'A theme the deal raises (trends.themes.theme_id).';
COMMENT ON COLUMN trends.deal_themes.label IS 'Theme label.';
COMMENT ON COLUMN trends.deal_themes.mentions IS 'Feedback records of this deal in the theme.';
COMMENT ON COLUMN trends.deal_themes.other_accounts IS 'Distinct OTHER accounts that ever asked for the theme.';
COMMENT ON COLUMN trends.deal_themes.other_accounts_arr IS 'Current ARR of those other accounts, each counted once.';
COMMENT ON COLUMN trends.deal_themes.sales_special IS 'True when at most sales_special_max_other_accounts other accounts ask for the theme: a request of this deal almost alone.';
COMMENT ON COLUMN trends.deal_themes.market_wide IS 'True when at least market_wide_share of the accounts that gave feedback ask for the theme.';
COMMENT ON COLUMN trends.deal_themes.other_segments IS 'Segments of the other accounts asking (unknown when the account is not in the CRM data).';
COMMENT ON COLUMN trends.deal_themes.emerging IS 'True when the theme is in trends.emerging_themes.';
COMMENT ON COLUMN trends.deal_themes.linked IS 'True when at least one record names the deal (opportunity_id), false when all come from the account only.';
COMMENT ON COLUMN trends.deal_themes.opportunity_name IS 'Deal name in the CRM.';
COMMENT ON COLUMN trends.deal_themes.account_name IS 'Account name; null when the account is not in the CRM data.';
COMMENT ON COLUMN trends.deal_themes.loss_reason IS 'Loss reason of a lost deal.';

CREATE VIEW trends.theme_winloss AS
SELECT w.theme_id, t.label, w.deals_won, w.deals_lost, w.amount_won, w.amount_lost, w.loss_rate,
       w.expected_loss_rate, w.p_value, w.over_represented, w.small_sample, w.q_value,
       w.loss_reasons, w.window_start, w.computed_at
FROM trendmine.theme_winloss w
JOIN trendmine.themes t USING (theme_id);
COMMENT ON VIEW trends.theme_winloss IS 'Per theme: the closed deals it appears in (trends.deal_themes), won vs lost, and whether it is over-represented in lost deals: one-sided Fisher''s exact test of the theme''s deals against the other closed deals of the window, Benjamini-Hochberg across themes.';
COMMENT ON COLUMN trends.theme_winloss.theme_id IS 'Theme (trends.themes.theme_id).';
COMMENT ON COLUMN trends.theme_winloss.label IS 'Theme label.';
COMMENT ON COLUMN trends.theme_winloss.deals_won IS 'Won deals in the window raising the theme.';
COMMENT ON COLUMN trends.theme_winloss.deals_lost IS 'Lost deals in the window raising the theme.';
COMMENT ON COLUMN trends.theme_winloss.amount_won IS 'Amount of those won deals.';
COMMENT ON COLUMN trends.theme_winloss.amount_lost IS 'Amount of those lost deals.';
COMMENT ON COLUMN trends.theme_winloss.loss_rate IS 'deals_lost / (deals_won + deals_lost).';
COMMENT ON COLUMN trends.theme_winloss.expected_loss_rate IS 'Loss rate of the other closed deals of the window (those not raising the theme).';
COMMENT ON COLUMN trends.theme_winloss.p_value IS 'One-sided Fisher''s exact p-value for a higher loss rate than the other deals; null for a small sample (not tested).';
COMMENT ON COLUMN trends.theme_winloss.over_represented IS 'True when the theme is significantly over-represented in lost deals (q_value <= winloss_fdr); never for a small sample.';
COMMENT ON COLUMN trends.theme_winloss.small_sample IS 'True when the theme has fewer than winloss_min_deals closed deals: reported, never tested or ranked.';
COMMENT ON COLUMN trends.theme_winloss.q_value IS 'Benjamini-Hochberg adjusted p-value across the tested themes.';
COMMENT ON COLUMN trends.theme_winloss.loss_reasons IS 'JSON: loss reason -> lost deals raising the theme.';
COMMENT ON COLUMN trends.theme_winloss.window_start IS 'Closed deals with a close date on or after this day were counted.';
COMMENT ON COLUMN trends.theme_winloss.computed_at IS 'When the sales rebuild computed it.';

CREATE VIEW trends.theme_fit AS
WITH req AS (
    SELECT DISTINCT theme_id, account_id FROM trendmine.theme_records WHERE account_id IS NOT NULL
), x AS (
    SELECT req.theme_id, req.account_id, coalesce(a.arr, 0) AS arr,
           (a.icp_fit < p.icp_fit_threshold) AS poor  -- null: fit unknown
    FROM req
    CROSS JOIN trendmine.sales_params p
    LEFT JOIN trendmine.accounts a USING (account_id)
), agg AS (
    SELECT theme_id,
           count(*)::integer                                  AS accounts,
           count(*) FILTER (WHERE poor)::integer              AS poor_fit_accounts,
           count(*) FILTER (WHERE poor IS NULL)::integer      AS unknown_fit_accounts,
           count(*) FILTER (WHERE poor IS NOT NULL)::integer  AS known_fit_accounts,
           coalesce(sum(arr) FILTER (WHERE poor), 0)          AS poor_fit_arr,
           coalesce(sum(arr) FILTER (WHERE poor IS NOT NULL), 0) AS known_fit_arr
    FROM x GROUP BY theme_id
)
SELECT agg.theme_id, t.label, agg.accounts, agg.poor_fit_accounts, agg.unknown_fit_accounts,
       agg.poor_fit_accounts::double precision / nullif(agg.known_fit_accounts, 0) AS poor_fit_share,
       (agg.poor_fit_arr / nullif(agg.known_fit_arr, 0))::double precision AS poor_fit_arr_share,
       coalesce(agg.known_fit_accounts >= p.fit_min_accounts
                AND agg.poor_fit_accounts::double precision / agg.known_fit_accounts
                    > p.revenue_debt_share, false) AS revenue_debt,
       agg.poor_fit_arr::numeric(18, 2) AS poor_fit_arr,
       p.icp_fit_threshold
FROM agg
JOIN trendmine.themes t USING (theme_id)
CROSS JOIN trendmine.sales_params p;
COMMENT ON VIEW trends.theme_fit IS 'Revenue debt per theme: how much of the demand comes from accounts with a poor ideal-customer-profile fit (icp_fit below icp_fit_threshold); accounts without icp_fit count as unknown, neither good nor poor.';
COMMENT ON COLUMN trends.theme_fit.theme_id IS 'Theme (trends.themes.theme_id).';
COMMENT ON COLUMN trends.theme_fit.label IS 'Theme label.';
COMMENT ON COLUMN trends.theme_fit.accounts IS 'Distinct accounts asking for the theme.';
COMMENT ON COLUMN trends.theme_fit.poor_fit_accounts IS 'Of those, accounts with icp_fit below icp_fit_threshold.';
COMMENT ON COLUMN trends.theme_fit.unknown_fit_accounts IS 'Of those, accounts without icp_fit (or not in the CRM data).';
COMMENT ON COLUMN trends.theme_fit.poor_fit_share IS 'poor_fit_accounts / accounts with a known fit; null when no fit is known.';
COMMENT ON COLUMN trends.theme_fit.poor_fit_arr_share IS 'Current ARR of the poor-fit accounts / ARR of the accounts with a known fit.';
COMMENT ON COLUMN trends.theme_fit.revenue_debt IS 'True when at least fit_min_accounts have a known fit and poor_fit_share exceeds revenue_debt_share: a theme driven mainly by poor-fit accounts.';
COMMENT ON COLUMN trends.theme_fit.poor_fit_arr IS 'Current ARR of the poor-fit accounts.';
COMMENT ON COLUMN trends.theme_fit.icp_fit_threshold IS 'The threshold in force (trendmine.sales_params).';

CREATE VIEW trends.theme_sources AS
SELECT r.theme_id, t.label, r.source, count(*)::integer AS mentions,
       count(*)::double precision / sum(count(*)) OVER (PARTITION BY r.theme_id) AS share,
       CASE r.source WHEN 'sales_calls' THEN 'sales'
                     WHEN 'ideas' THEN 'portal'
                     ELSE 'customers' END AS channel
FROM trendmine.theme_records r
JOIN trendmine.themes t USING (theme_id)
GROUP BY r.theme_id, t.label, r.source;
COMMENT ON VIEW trends.theme_sources IS 'Source mix per theme: who hears it (support and CRM notes from customers, sales calls from prospects and deals, the idea portal).';
COMMENT ON COLUMN trends.theme_sources.theme_id IS 'Theme (trends.themes.theme_id).';
COMMENT ON COLUMN trends.theme_sources.label IS 'Theme label.';
COMMENT ON COLUMN trends.theme_sources.source IS 'crm_notes, support_tickets, ideas or sales_calls.';
COMMENT ON COLUMN trends.theme_sources.mentions IS 'Feedback records of the theme from this source.';
COMMENT ON COLUMN trends.theme_sources.share IS 'mentions / all the theme''s records (0..1; a theme''s shares sum to 1).';
COMMENT ON COLUMN trends.theme_sources.channel IS 'customers (crm_notes, support_tickets), sales (sales_calls) or portal (ideas).';

CREATE VIEW trends.loop_requesters AS
SELECT d.theme_id, r.account_id, d.decision, d.decided_at, n.notified_at, d.decision_id,
       d.decision_id::text || ':' || r.account_id AS event_id
FROM trendmine.current_decisions d
CROSS JOIN LATERAL (
    SELECT tr.account_id FROM trendmine.theme_records tr
    WHERE tr.theme_id = d.theme_id AND tr.account_id IS NOT NULL
    UNION
    SELECT ln.account_id FROM trendmine.loop_notifications ln WHERE ln.decision_id = d.decision_id
) r
LEFT JOIN trendmine.loop_notifications n
       ON n.decision_id = d.decision_id AND n.account_id = r.account_id;
COMMENT ON VIEW trends.loop_requesters IS 'Closing the loop: for the decision in force on each theme, every requesting account and whether it was told (one feedback.loop event each).';
COMMENT ON COLUMN trends.loop_requesters.theme_id IS 'Theme decided on.';
COMMENT ON COLUMN trends.loop_requesters.account_id IS 'An account that asked for the theme.';
COMMENT ON COLUMN trends.loop_requesters.decision IS 'shipped, planned or declined (the newest decision).';
COMMENT ON COLUMN trends.loop_requesters.decided_at IS 'When the decision was recorded.';
COMMENT ON COLUMN trends.loop_requesters.notified_at IS 'When the account''s event was published (acks=all); null until then (a requester who asked after the decision is told on the next pipeline run).';
COMMENT ON COLUMN trends.loop_requesters.decision_id IS 'The decision (part of the event id).';
COMMENT ON COLUMN trends.loop_requesters.event_id IS 'Stable id of the account''s event (decision_id:account_id).';
