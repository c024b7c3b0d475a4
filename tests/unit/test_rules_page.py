"""docs/rules.md maps each domain rule to its code and tests: every test and file it names exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = (ROOT / "docs" / "rules.md").read_text()
TEST_SOURCES = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("test_*.py"))
PREFIXES = {"u/": "tests/unit/", "i/": "tests/integration/", "e2e/": "tests/e2e/", "elig/": "services/eligibility/",
            "reg/": "services/registry/", "ntf/": "services/notifier/"}  # fmt: skip


def test_every_test_the_page_names_exists() -> None:
    named = {n for n in re.findall(r"\b(test_[a-z0-9_]+)\b", PAGE) if not PAGE.count(f"{n}.py")}
    missing = sorted(n for n in named if not re.search(rf"def {n}\(", TEST_SOURCES))
    assert not missing, f"docs/rules.md names tests that do not exist: {missing}"


def test_every_file_the_page_names_exists() -> None:
    missing = []
    for path in re.findall(r"`((?:u|i|e2e|elig|reg|ntf|shared)/[\w/.-]+\.(?:py|csv|j2|md))", PAGE):
        prefix = next((p for p in PREFIXES if path.startswith(p)), "")
        full = ROOT / (PREFIXES[prefix] + path[len(prefix) :] if prefix else path)
        if not full.exists():
            missing.append(path)
    assert not missing, f"docs/rules.md names files that do not exist: {missing}"
