"""Outbound integrations: alerts to Slack and e-mail, decisions told to the requesting accounts'
owners, Jira/Linear issue links that move a theme's status, CRM write-back (docs/alerts.md).

It sits beside the report layer: it reads the warehouse's queries and writes its own ledgers,
and never runs inside a read query.
"""
