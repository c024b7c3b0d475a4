"""Intake's pure logic: event ids for retried submissions, idempotency, SLA state of a request."""
