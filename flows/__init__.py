"""Prefect flows and tasks: thin glue over ingest/ and mining/ (issue 6; not written yet).

Until then `trendmine run` and `trendmine demo` call the same steps as plain functions.
"""
