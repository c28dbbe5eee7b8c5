"""Prefect flows and tasks: thin glue over ingest/, warehouse.mine and warehouse.trends.

- `flows.pipeline`: the flows `ingest`, `mine`, `trends` and `pipeline` (the three in order,
  then the HTML report and a markdown artifact); each records itself in pipeline_runs.
- `flows.tasks`: the small named tasks, with retries for transient errors and timeouts.
- `flows.deployments`: the scheduled deployments behind `trendmine serve` and prefect.yaml.
- `flows.runtime`: Prefect's offline defaults and the CLI's progress hook (no Prefect import).
"""
