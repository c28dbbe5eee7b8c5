"""The database side: mining, trend tables, pipeline runs, read queries and roles over Postgres."""
