"""A revision is history: it states its own DDL and never reads today's models (a revision built from the
models changes its meaning whenever they change), nor hides what it does behind IF NOT EXISTS."""

from __future__ import annotations

import ast

import pytest

from pbi_cli.db import SCHEMAS

REVISIONS = sorted(f for m in SCHEMAS for f in (m.migrations / "versions").glob("*.py"))


@pytest.mark.parametrize("path", REVISIONS, ids=lambda p: f"{p.parents[2].name}/{p.name}")
def test_a_revision_is_self_contained(path) -> None:  # type: ignore[no-untyped-def]
    source = path.read_text()
    imported = [
        n.module if isinstance(n, ast.ImportFrom) else a.name
        for n in ast.walk(ast.parse(source))
        if isinstance(n, ast.Import | ast.ImportFrom)
        for a in n.names
    ]
    ours = [m for m in imported if m and m.split(".")[0] in ("services", "shared", "pbi_cli")]
    assert not ours, f"{path.name} imports {ours}: write the tables and columns out (op.create_table, op.add_column)"
    assert "IF NOT EXISTS" not in source.upper(), f"{path.name}: state exactly what the revision creates"
