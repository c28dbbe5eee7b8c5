-- trendmine V013: feedback_history is kept by a trigger on the edit itself (issue 15).
-- The ingest writer used to probe feedback once per staged row to copy the version an edit
-- replaces (~4 us per row in Postgres, paid by every new record too); a row trigger runs only
-- for rows an upsert actually updates, i.e. edits, and covers every other writer as well.
CREATE FUNCTION trendmine.keep_feedback_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO trendmine.feedback_history (feedback_id, version, text_hash, created_at, updated_at)
    VALUES (OLD.feedback_id, OLD.version, OLD.text_hash, OLD.created_at, OLD.updated_at)
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END;
$$;
COMMENT ON FUNCTION trendmine.keep_feedback_version() IS 'Copies the version an edit replaces into feedback_history.';

CREATE TRIGGER feedback_keep_version
    AFTER UPDATE ON trendmine.feedback
    FOR EACH ROW
    WHEN ((OLD.text_hash, OLD.created_at, OLD.updated_at)
          IS DISTINCT FROM (NEW.text_hash, NEW.created_at, NEW.updated_at))
    EXECUTE FUNCTION trendmine.keep_feedback_version();
