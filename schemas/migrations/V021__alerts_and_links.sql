-- Alerts, requesters' owners, issue-tracker links (issue 31). Written by notify/; read by the
-- CLI and the trends views below.

-- ---------------------------------------------------------------- account owners (from the CRM)
ALTER TABLE trendmine.accounts ADD COLUMN owner_email text;
ALTER TABLE trendmine.accounts ADD COLUMN owner_slack_id text;
COMMENT ON COLUMN trendmine.accounts.owner_email IS 'E-mail of the account owner in the CRM (Salesforce Owner.Email, HubSpot owner); told of decisions on the themes the account asked for.';
COMMENT ON COLUMN trendmine.accounts.owner_slack_id IS 'Slack user id of the account owner, where the CRM carries it; decisions are sent to it as a direct message.';

-- ---------------------------------------------------------------- alerts: each sent once
CREATE TABLE trendmine.alert_ledger (
    alert_key   text        NOT NULL,
    channel     text        NOT NULL CHECK (channel IN ('slack', 'email')),
    kind        text        NOT NULL CHECK (kind IN ('emerging', 'deal')),
    theme_id    bigint,
    body        jsonb       NOT NULL,
    status      text        NOT NULL DEFAULT 'pending'
                            CHECK (status IN ('pending', 'sent', 'failed')),
    attempts    integer     NOT NULL DEFAULT 0,
    last_error  text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz,
    digest_id   bigint,
    PRIMARY KEY (alert_key, channel)
);
CREATE INDEX alert_ledger_unsent_idx ON trendmine.alert_ledger (channel) WHERE status <> 'sent';
COMMENT ON TABLE trendmine.alert_ledger IS 'Every alert (a newly emerging theme, a big deal citing a theme) per channel: recorded once, sent once (`trendmine alerts send`).';
COMMENT ON COLUMN trendmine.alert_ledger.alert_key IS 'What the alert is about: emerging:<theme_id> or deal:<opportunity_id>:<theme_id>; never alerted twice.';
COMMENT ON COLUMN trendmine.alert_ledger.channel IS 'slack (incoming webhook) or email (SMTP).';
COMMENT ON COLUMN trendmine.alert_ledger.kind IS 'emerging or deal.';
COMMENT ON COLUMN trendmine.alert_ledger.theme_id IS 'The theme alerted on.';
COMMENT ON COLUMN trendmine.alert_ledger.body IS 'The facts the message carries (theme, segment mix, accounts, ARR, pipeline, a quote, the deal).';
COMMENT ON COLUMN trendmine.alert_ledger.status IS 'pending (not sent yet; digest mode waits for the week), sent, or failed (retried at the next run).';
COMMENT ON COLUMN trendmine.alert_ledger.attempts IS 'Runs that tried to send it (each run retries with backoff).';
COMMENT ON COLUMN trendmine.alert_ledger.last_error IS 'Why the last attempt failed (no secret in it).';
COMMENT ON COLUMN trendmine.alert_ledger.created_at IS 'When the alert was first found.';
COMMENT ON COLUMN trendmine.alert_ledger.sent_at IS 'When the channel accepted it.';
COMMENT ON COLUMN trendmine.alert_ledger.digest_id IS 'The weekly digest that carried it (null: sent alone).';

CREATE TABLE trendmine.alert_digests (
    digest_id   bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel     text        NOT NULL,
    alerts      integer     NOT NULL,
    sent_at     timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE trendmine.alert_digests IS 'Weekly digests sent (TRENDMINE_ALERTS_DIGEST): one message per channel carrying the week''s alerts.';

-- ---------------------------------------------------------------- owners told of decisions
CREATE TABLE trendmine.owner_notifications (
    theme_id     bigint      NOT NULL,
    decision     text        NOT NULL,
    account_id   text        NOT NULL,
    decision_id  bigint      NOT NULL REFERENCES trendmine.theme_decisions,
    owner        text,
    channel      text        CHECK (channel IN ('slack', 'email')),
    status       text        NOT NULL DEFAULT 'pending'
                             CHECK (status IN ('pending', 'sent', 'failed', 'opted_out',
                                               'no_owner', 'no_channel')),
    attempts     integer     NOT NULL DEFAULT 0,
    last_error   text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    sent_at      timestamptz,
    crm_status   text        CHECK (crm_status IN ('pending', 'written', 'failed', 'skipped')),
    crm_error    text,
    PRIMARY KEY (theme_id, decision, account_id)
);
CREATE INDEX owner_notifications_unsent_idx ON trendmine.owner_notifications (decision_id)
    WHERE status IN ('pending', 'failed') OR crm_status IN ('pending', 'failed');
COMMENT ON TABLE trendmine.owner_notifications IS 'A decision told to each requesting account''s owner (Slack DM or e-mail), once per theme x decision x account: a repeated decision tells nobody twice.';
COMMENT ON COLUMN trendmine.owner_notifications.owner IS 'The owner''s e-mail (or Slack user id) at the time; null = the account has no owner.';
COMMENT ON COLUMN trendmine.owner_notifications.status IS 'pending, sent, failed (retried), opted_out (the owner opted out), no_owner, no_channel (no configured channel reaches the owner).';
COMMENT ON COLUMN trendmine.owner_notifications.crm_status IS 'CRM write-back (Salesforce Task / HubSpot note): pending, written, failed, skipped (off, or no CRM id); null = off.';

CREATE TABLE trendmine.owner_optouts (
    owner       text        PRIMARY KEY,
    opted_by    text,
    opted_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE trendmine.owner_optouts IS 'Owners (e-mail, lower case, or Slack user id) who asked not to be told of decisions (`trendmine alerts opt-out`).';

-- ---------------------------------------------------------------- issue-tracker links
CREATE TABLE trendmine.theme_links (
    theme_id     bigint      NOT NULL REFERENCES trendmine.themes,
    tracker      text        NOT NULL CHECK (tracker IN ('jira', 'linear')),
    issue_key    text        NOT NULL,
    url          text,
    issue_state  text,
    state_kind   text        CHECK (state_kind IN ('unstarted', 'started', 'done', 'canceled')),
    linked_by    text,
    linked_at    timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz,
    PRIMARY KEY (tracker, issue_key)
);
CREATE INDEX theme_links_theme_idx ON trendmine.theme_links (theme_id);
COMMENT ON TABLE trendmine.theme_links IS 'A theme linked to its Jira or Linear issue (`trendmine theme link`); the issue''s webhooks move the theme to planned (started) and shipped (done).';

CREATE VIEW trends.theme_links AS
SELECT l.theme_id, t.label, l.tracker, l.issue_key, l.url, l.issue_state, l.state_kind,
       d.decision, l.linked_by, l.linked_at, l.updated_at
FROM trendmine.theme_links l
JOIN trendmine.themes t USING (theme_id)
LEFT JOIN trendmine.current_decisions d USING (theme_id);
COMMENT ON VIEW trends.theme_links IS 'Themes linked to Jira/Linear issues, with the issue''s last known state and the decision in force.';
COMMENT ON COLUMN trends.theme_links.theme_id IS 'The theme (trends.themes.theme_id).';
COMMENT ON COLUMN trends.theme_links.label IS 'Its label.';
COMMENT ON COLUMN trends.theme_links.tracker IS 'jira or linear.';
COMMENT ON COLUMN trends.theme_links.issue_key IS 'The issue key (PROJ-123, ENG-12).';
COMMENT ON COLUMN trends.theme_links.url IS 'The issue''s URL, when a webhook carried it.';
COMMENT ON COLUMN trends.theme_links.issue_state IS 'The issue''s status name as the tracker last reported it.';
COMMENT ON COLUMN trends.theme_links.state_kind IS 'unstarted, started, done or canceled (Jira status category / Linear state type).';
COMMENT ON COLUMN trends.theme_links.decision IS 'The decision in force on the theme (shipped, planned, declined; null = none).';
COMMENT ON COLUMN trends.theme_links.linked_by IS 'Who linked it.';
COMMENT ON COLUMN trends.theme_links.linked_at IS 'When.';
COMMENT ON COLUMN trends.theme_links.updated_at IS 'When a webhook last reported the issue''s state.';

CREATE VIEW trends.owner_notifications AS
SELECT n.theme_id, n.decision, n.account_id, a.name AS account_name, n.status, n.channel,
       n.attempts, n.last_error, n.created_at, n.sent_at, n.crm_status
FROM trendmine.owner_notifications n
LEFT JOIN trendmine.accounts a USING (account_id);
COMMENT ON VIEW trends.owner_notifications IS 'Whom each decision told: one row per theme x decision x requesting account (owners'' addresses left out).';
COMMENT ON COLUMN trends.owner_notifications.theme_id IS 'The theme decided on.';
COMMENT ON COLUMN trends.owner_notifications.decision IS 'shipped, planned or declined.';
COMMENT ON COLUMN trends.owner_notifications.account_id IS 'The requesting account.';
COMMENT ON COLUMN trends.owner_notifications.account_name IS 'Its name.';
COMMENT ON COLUMN trends.owner_notifications.status IS 'pending, sent, failed, opted_out, no_owner, no_channel.';
COMMENT ON COLUMN trends.owner_notifications.channel IS 'slack (DM) or email.';
COMMENT ON COLUMN trends.owner_notifications.attempts IS 'Runs that tried to send it.';
COMMENT ON COLUMN trends.owner_notifications.last_error IS 'Why the last attempt failed.';
COMMENT ON COLUMN trends.owner_notifications.created_at IS 'When it became due.';
COMMENT ON COLUMN trends.owner_notifications.sent_at IS 'When it was sent.';
COMMENT ON COLUMN trends.owner_notifications.crm_status IS 'CRM write-back: pending, written, failed, skipped; null = off.';
