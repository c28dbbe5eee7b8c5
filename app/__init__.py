"""The web app for product managers (`trendmine app serve`): server-rendered pages over the
same query layer as the CLI (warehouse/), so every number matches `trendmine trends` and the
report; curation and decisions call the same functions as the CLI, so the audit trail is one.
"""
