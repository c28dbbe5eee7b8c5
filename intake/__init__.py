"""Live intake: vendor webhooks and scheduled API pulls, published to Kafka through ingest."""
