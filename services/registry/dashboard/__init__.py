"""The operations dashboard (GET /dashboard): server-sent snapshots rendered by a small local script."""
