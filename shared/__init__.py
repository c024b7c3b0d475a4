"""Code shared by two or more services: event schemas, value types, settings, Kafka and DB plumbing."""
