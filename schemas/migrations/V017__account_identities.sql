-- trendmine V017: accounts across sources (issue 29, docs/accounts.md).
-- A source that does not know the CRM account id keeps its own clues (account_ref: its id
-- and name for the company, a company domain); CRM accounts carry the identities those clues
-- are matched against (domains, ids in other systems, a normalised name). Every stored
-- record says how its account was found and how sure that is; a clue that matches several
-- accounts is left unresolved for review instead of guessed.

ALTER TABLE trendmine.accounts
    ADD COLUMN domains      text[] NOT NULL DEFAULT '{}',
    ADD COLUMN external_ids jsonb  NOT NULL DEFAULT '{}';
COMMENT ON COLUMN trendmine.accounts.domains IS 'Company domains from the CRM (website, e-mail domains), lower case, without www.';
COMMENT ON COLUMN trendmine.accounts.external_ids IS 'Ids of the account in other systems as the CRM records them, e.g. {"zendesk": "361"}.';

ALTER TABLE trendmine.feedback
    ADD COLUMN account_ref        jsonb,
    ADD COLUMN account_method     text,
    ADD COLUMN account_confidence real;
COMMENT ON COLUMN trendmine.feedback.account_ref IS 'The source''s clues to the company: {system, id, name, key (normalised name), domain (company or author e-mail domain, never free-mail)}; the author''s address itself is never stored.';
COMMENT ON COLUMN trendmine.feedback.account_method IS 'How account_id was found: crm_id (the source carried it), deal (the account of the CRM deal it is linked to), external_id, email_domain, name, name_fuzzy, manual; ambiguous = several accounts matched (review queue); null = no match.';
COMMENT ON COLUMN trendmine.feedback.account_confidence IS 'Confidence of the match, 0..1 (1 for a CRM id or a mapping).';

UPDATE trendmine.feedback SET account_method = 'crm_id', account_confidence = 1
WHERE account_id IS NOT NULL;

-- Unresolved records are found again by their clues when an identity is added.
CREATE INDEX feedback_ref_id_idx ON trendmine.feedback ((account_ref->>'system'), (account_ref->>'id'))
    WHERE account_ref IS NOT NULL;
CREATE INDEX feedback_ref_domain_idx ON trendmine.feedback ((account_ref->>'domain'))
    WHERE account_ref IS NOT NULL;
CREATE INDEX feedback_ref_key_idx ON trendmine.feedback ((account_ref->>'key'))
    WHERE account_ref IS NOT NULL;
CREATE INDEX feedback_opportunity_idx ON trendmine.feedback (opportunity_id)
    WHERE opportunity_id IS NOT NULL;

CREATE TABLE trendmine.account_identities (
    kind        text        NOT NULL,
    value       text        NOT NULL,
    account_id  text        NOT NULL,
    origin      text        NOT NULL CHECK (origin IN ('crm', 'mapping', 'manual', 'fuzzy')),
    confidence  real        NOT NULL CHECK (confidence > 0 AND confidence <= 1),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, value, account_id, origin)
);
CREATE INDEX account_identities_account_idx ON trendmine.account_identities (account_id);
COMMENT ON TABLE trendmine.account_identities IS 'What identifies a CRM account in other sources: its domains, its ids in other systems, its normalised name; from the CRM, a mapping file, a reviewer, or the conservative fuzzy name match.';
COMMENT ON COLUMN trendmine.account_identities.kind IS '''domain'', ''name'' (normalised name key), or the system an id belongs to (zendesk, intercom, canny, ...).';
COMMENT ON COLUMN trendmine.account_identities.value IS 'The domain, name key or id.';
COMMENT ON COLUMN trendmine.account_identities.account_id IS 'The CRM account it identifies.';
COMMENT ON COLUMN trendmine.account_identities.origin IS 'crm (the account record), mapping (trendmine accounts map import), manual (trendmine accounts resolve: decides an ambiguity), fuzzy (name match).';
COMMENT ON COLUMN trendmine.account_identities.confidence IS 'How sure a match by this identity is, 0..1.';

-- One home for the resolution rule, used by the ingest writer and the re-resolution pass.
CREATE FUNCTION trendmine.resolve_account(ref jsonb, deal text DEFAULT NULL)
RETURNS TABLE (account_id text, method text, confidence real, candidates text[])
LANGUAGE sql STABLE PARALLEL SAFE AS $$
WITH clue(rank, kind, value, method) AS (
    VALUES (1, lower(ref->>'system'), ref->>'id', 'external_id'),
           (2, 'domain', ref->>'domain', 'email_domain'),
           (3, 'name', ref->>'key', 'name')
), hit AS (
    -- a CRM deal the record is linked to (a call's opportunity, a note on a deal) names the
    -- CRM's own account for it
    SELECT 0 AS rank, o.account_id, 'crm' AS origin, 1::real AS confidence, 'deal' AS method
    FROM trendmine.opportunities o
    WHERE o.opportunity_id = deal AND o.account_id IS NOT NULL
    UNION ALL
    SELECT c.rank, i.account_id, i.origin, i.confidence,
           CASE i.origin WHEN 'manual' THEN 'manual'
                         WHEN 'fuzzy' THEN 'name_fuzzy' ELSE c.method END AS method
    FROM clue c
    JOIN trendmine.account_identities i ON i.kind = c.kind AND i.value = c.value
    WHERE c.value IS NOT NULL AND c.kind IS NOT NULL
), lvl AS (
    SELECT * FROM hit WHERE rank = (SELECT min(rank) FROM hit)
), chosen AS (
    SELECT * FROM lvl
    WHERE origin = 'manual' OR NOT EXISTS (SELECT FROM lvl WHERE origin = 'manual')
), agg AS (
    SELECT count(DISTINCT account_id) AS n,
           array_agg(DISTINCT account_id ORDER BY account_id) AS candidates
    FROM chosen
), narrowed AS (
    -- several accounts share the most trusted clue: a less trusted clue that names exactly
    -- one of them settles it (two clues agreeing), never an account outside them
    SELECT h.* FROM hit h, agg
    WHERE agg.n > 1 AND h.rank > (SELECT min(rank) FROM hit)
      AND h.account_id = ANY(agg.candidates)
), decided AS (
    SELECT * FROM chosen WHERE (SELECT n FROM agg) = 1
    UNION ALL
    SELECT * FROM narrowed WHERE (SELECT count(DISTINCT account_id) FROM narrowed) = 1
)
SELECT b.account_id, coalesce(b.method, 'ambiguous'), b.confidence, agg.candidates
FROM agg
LEFT JOIN LATERAL (
    SELECT account_id, method, confidence FROM decided
    ORDER BY origin = 'manual' DESC, rank, confidence DESC, account_id LIMIT 1
) b ON true
WHERE agg.n > 0
$$;
COMMENT ON FUNCTION trendmine.resolve_account(jsonb, text) IS 'The CRM account of a record''s clues, in order of trust: the CRM deal it is linked to (deal), the source''s own company id (external_id), then the domain (email_domain), then the normalised name (name, name_fuzzy). The first clue with any match decides; a manual identity decides among several; when several accounts share it, a less trusted clue naming exactly one of them settles it; otherwise ambiguous (account_id null, candidates listed). No row: nothing matched.';

CREATE VIEW trends.account_resolution AS
SELECT f.source,
       count(*)::integer AS records,
       count(f.account_id)::integer AS resolved,
       count(*) FILTER (WHERE f.account_id IS NULL)::integer AS unresolved,
       count(*) FILTER (WHERE f.account_method = 'ambiguous')::integer AS ambiguous,
       count(*) FILTER (WHERE f.account_id IS NULL AND f.account_ref IS NULL)::integer AS no_clue,
       round(count(*) FILTER (WHERE f.account_id IS NULL)::numeric / count(*), 4) AS unresolved_share,
       count(*) FILTER (WHERE f.account_method = 'crm_id')::integer AS by_crm_id,
       count(*) FILTER (WHERE f.account_method = 'deal')::integer AS by_deal,
       count(*) FILTER (WHERE f.account_method = 'external_id')::integer AS by_external_id,
       count(*) FILTER (WHERE f.account_method = 'email_domain')::integer AS by_email_domain,
       count(*) FILTER (WHERE f.account_method IN ('name', 'name_fuzzy'))::integer AS by_name,
       count(*) FILTER (WHERE f.account_method = 'manual')::integer AS by_manual
FROM trendmine.feedback f
GROUP BY f.source;
COMMENT ON VIEW trends.account_resolution IS 'Per source: how much feedback landed on a CRM account, by which method, and how much is unresolved (docs/accounts.md).';
COMMENT ON COLUMN trends.account_resolution.source IS 'Feedback source.';
COMMENT ON COLUMN trends.account_resolution.records IS 'Stored feedback records.';
COMMENT ON COLUMN trends.account_resolution.resolved IS 'Records on a CRM account.';
COMMENT ON COLUMN trends.account_resolution.unresolved IS 'Records on no account (they weigh as anonymous voices).';
COMMENT ON COLUMN trends.account_resolution.ambiguous IS 'Unresolved records whose clue matches several accounts: `trendmine accounts unresolved` lists them for review.';
COMMENT ON COLUMN trends.account_resolution.no_clue IS 'Unresolved records that carry no clue at all (anonymous or personal e-mail only).';
COMMENT ON COLUMN trends.account_resolution.unresolved_share IS 'unresolved / records, 0..1.';
COMMENT ON COLUMN trends.account_resolution.by_crm_id IS 'Records whose source carried the CRM account id.';
COMMENT ON COLUMN trends.account_resolution.by_deal IS 'Records matched by the account of the CRM deal they are linked to.';
COMMENT ON COLUMN trends.account_resolution.by_external_id IS 'Records matched by the source''s own company id (a CRM field or a mapping).';
COMMENT ON COLUMN trends.account_resolution.by_email_domain IS 'Records matched by a company or author e-mail domain.';
COMMENT ON COLUMN trends.account_resolution.by_name IS 'Records matched by the company name (exact after normalising, or the conservative fuzzy match).';
COMMENT ON COLUMN trends.account_resolution.by_manual IS 'Records matched by a reviewer''s decision (`trendmine accounts resolve`).';
