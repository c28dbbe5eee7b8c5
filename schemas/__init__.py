"""The one source of truth for every name: event models, topics, tables, migrations."""
