-- A run stopped on purpose (serve stopping, a cancel in Prefect) is `cancelled`, not `failed`:
-- "alert on any failed" must not fire on every deploy.
ALTER TABLE trendmine.pipeline_runs DROP CONSTRAINT pipeline_runs_status_check;
ALTER TABLE trendmine.pipeline_runs ADD CONSTRAINT pipeline_runs_status_check
    CHECK (status IN ('running', 'completed', 'cancelled', 'failed'));
COMMENT ON COLUMN trendmine.pipeline_runs.status IS 'running, completed, cancelled (stopped on purpose, error says by what) or failed (error says why).';
COMMENT ON COLUMN trends.pipeline_runs.status IS 'running, completed, cancelled (stopped on purpose, error says by what) or failed (error says why).';
