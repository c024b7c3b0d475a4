"""Tests and benchmarks stand on the testkit: no test module imports another (or bench), bench never imports
the tests, and the testkit imports neither. Shared fixtures live in conftest.py files, which pytest finds by
itself; shared helpers in testkit/. The one exception: a case suite (`tests/**/<name>_cases.py`) written once
and run against two backends (in memory and PostgreSQL, issue 20) is imported by the two modules that run it."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in the file, relative imports as `.name`."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            if node.module is None or node.level:
                found += [(node.lineno, f"{module}.{alias.name}".replace("..", ".")) for alias in node.names]
            else:
                found.append((node.lineno, module))
                # `from tests import x` imports module tests.x
                if module in ("tests", "bench"):
                    found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


def _is(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def forbidden_imports(package: str, allowed: Callable[[str], bool]) -> list[str]:
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for line, module in imported_modules(path):
            if not allowed(module):
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return bad


def is_case_suite(module: str) -> bool:
    return _is(module, "tests") and module.rsplit(".", 1)[-1].endswith("_cases")


def test_no_test_module_imports_another_test_module_or_bench() -> None:
    def allowed(module: str) -> bool:
        if module.startswith("."):
            return False
        if _is(module, "bench"):
            return False
        return not _is(module, "tests") or is_case_suite(module)

    assert forbidden_imports("tests", allowed) == []


def test_bench_never_imports_the_tests() -> None:
    assert forbidden_imports("bench", lambda module: not _is(module, "tests")) == []


def test_the_testkit_imports_neither_tests_nor_bench() -> None:
    assert forbidden_imports("testkit", lambda m: not (_is(m, "tests") or _is(m, "bench") or m.startswith("."))) == []


def test_the_check_sees_every_kind_of_import(tmp_path: Path) -> None:
    source = tmp_path / "test_x.py"
    source.write_text(
        "import tests.e2e.test_user_paths\n"
        "from tests import log_scan\n"
        "from tests.integration.test_eligibility_flow import NIK\n"
        "from . import helpers\n"
        "from bench.chaos import run\n"
        "def f():\n"
        "    from tests.conftest import eventually\n"
    )
    modules = [m for _, m in imported_modules(source)]
    assert "tests.e2e.test_user_paths" in modules and "tests.log_scan" in modules
    assert "tests.integration.test_eligibility_flow" in modules and ".helpers" in modules
    assert "bench.chaos" in modules and "tests.conftest" in modules
    assert is_case_suite("tests.unit.registry.handler_cases") and not is_case_suite("tests.unit.registry.test_x")
