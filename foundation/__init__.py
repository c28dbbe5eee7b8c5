"""The foundation: settings, database connections and errors. Imports nothing of ours."""
