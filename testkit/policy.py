"""The eligibility policy tests decide with: the shipped file's numbers (services/eligibility/policy/v1.json,
through the loader the service uses), named "test". `Policy` has no defaults of its own to fall back on."""

from __future__ import annotations

import dataclasses

from services.eligibility.app import load_policy

POLICY = dataclasses.replace(load_policy(), version="test")
