-- The web app's users (`trendmine app user add`) and their login sessions. Passwords are
-- argon2id hashes; a session row holds only a SHA-256 of the cookie's token, so a copy of
-- the table opens no session.
CREATE TABLE trendmine.app_users (
    email         text PRIMARY KEY CHECK (email = lower(email) AND email LIKE '%_@_%'),
    role          text NOT NULL CHECK (role IN ('viewer', 'editor')),
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE trendmine.app_users IS 'People who may sign in to the web app (`trendmine app serve`): viewers read, editors also curate and decide.';
COMMENT ON COLUMN trendmine.app_users.email IS 'Login name, lower case; recorded as `by` on every curation and decision made in the browser.';
COMMENT ON COLUMN trendmine.app_users.role IS 'viewer (read only: any change answers 403) or editor (curation and decisions too).';
COMMENT ON COLUMN trendmine.app_users.password_hash IS 'argon2id hash (PHC string) of the password; the password itself is never stored.';
COMMENT ON COLUMN trendmine.app_users.created_at IS 'When the user was added.';
COMMENT ON COLUMN trendmine.app_users.updated_at IS 'When the role or password last changed.';

CREATE TABLE trendmine.app_sessions (
    token_sha256 bytea PRIMARY KEY,
    email        text NOT NULL REFERENCES trendmine.app_users (email) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);
CREATE INDEX app_sessions_expires_idx ON trendmine.app_sessions (expires_at);
COMMENT ON TABLE trendmine.app_sessions IS 'Signed-in web app sessions; removed at logout, when the user is removed, or after expiry.';
COMMENT ON COLUMN trendmine.app_sessions.token_sha256 IS 'SHA-256 of the session cookie''s random token (the token itself is never stored).';
COMMENT ON COLUMN trendmine.app_sessions.email IS 'The signed-in user.';
COMMENT ON COLUMN trendmine.app_sessions.created_at IS 'When the user signed in.';
COMMENT ON COLUMN trendmine.app_sessions.expires_at IS 'After this the cookie no longer opens the session.';
