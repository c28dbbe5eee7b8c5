"""The embedded local stack (Postgres + Kafka-protocol broker) and the production stack files."""
