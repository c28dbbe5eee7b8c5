"""Source connectors, Kafka producer/consumer, validation, PII redaction, the Postgres writer."""
