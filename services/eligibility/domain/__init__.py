"""Eligibility rules: pure functions of facts, request, policy and the time (no I/O)."""
