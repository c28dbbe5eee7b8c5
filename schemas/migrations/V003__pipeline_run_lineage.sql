-- trendmine V003: pipeline runs link their stages and their report (issue 6, Prefect flows).
-- A pipeline run records one row for itself and one per stage (ingest, mine, trends), the
-- stage rows pointing at it; the pipeline row keeps the path of the HTML report it wrote.
ALTER TABLE trendmine.pipeline_runs
    ADD COLUMN parent_run_id bigint REFERENCES trendmine.pipeline_runs,
    ADD COLUMN report_path   text;
CREATE INDEX pipeline_runs_parent_idx ON trendmine.pipeline_runs (parent_run_id);
CREATE INDEX pipeline_runs_started_idx ON trendmine.pipeline_runs (started_at DESC);
COMMENT ON COLUMN trendmine.pipeline_runs.run_id IS 'Run id (theme_lineage.run_id and feedback_theme.run_id point at the mine stage).';
COMMENT ON COLUMN trendmine.pipeline_runs.flow IS 'Flow name: ingest, mine, trends or pipeline.';
COMMENT ON COLUMN trendmine.pipeline_runs.status IS 'running, completed or failed.';
COMMENT ON COLUMN trendmine.pipeline_runs.counts IS 'JSON counts in/out per stage.';
COMMENT ON COLUMN trendmine.pipeline_runs.params IS 'JSON parameters of the run (no secrets).';
COMMENT ON COLUMN trendmine.pipeline_runs.prefect_flow_run_id IS 'Prefect flow run id (find the run and its logs in the Prefect UI or API).';
COMMENT ON COLUMN trendmine.pipeline_runs.parent_run_id IS 'For a stage run inside a pipeline run, the pipeline run.';
COMMENT ON COLUMN trendmine.pipeline_runs.report_path IS 'HTML report written by the run, if any.';

-- New columns go last: CREATE OR REPLACE VIEW keeps the existing ones and their COMMENTs.
CREATE OR REPLACE VIEW trends.pipeline_runs AS
SELECT r.run_id, r.flow, r.started_at, r.ended_at, r.status, r.counts, r.params, r.model, r.error,
       r.parent_run_id, r.prefect_flow_run_id, r.report_path,
       extract(epoch FROM r.ended_at - r.started_at)::double precision AS seconds
FROM trendmine.pipeline_runs r;
COMMENT ON COLUMN trends.pipeline_runs.parent_run_id IS 'For a stage run (ingest, mine, trends) inside a pipeline run, that pipeline run; null for the pipeline run itself or a stage run on its own.';
COMMENT ON COLUMN trends.pipeline_runs.prefect_flow_run_id IS 'Prefect flow run id: its logs and artifacts are in the Prefect UI or API.';
COMMENT ON COLUMN trends.pipeline_runs.report_path IS 'Path of the HTML report the run wrote (pipeline runs only).';
COMMENT ON COLUMN trends.pipeline_runs.seconds IS 'Wall time of the run in seconds (null while running).';
