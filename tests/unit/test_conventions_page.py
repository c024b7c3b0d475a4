"""docs/CONVENTIONS.md describes the code as it is: every file, every dotted name and every `path.py:function` it
quotes exists, and its emergency trace stays one page that names each service's entry points."""

from __future__ import annotations

import importlib
import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = (ROOT / "docs" / "CONVENTIONS.md").read_text()
QUOTED = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", PAGE, flags=re.S))  # inline code, not blocks
PACKAGES = ("shared", "services", "testkit", "bench", "pbi_cli")


def quoted_paths() -> set[str]:
    """`path/file.py` (or .md, .j2, .yaml): a path from the repository's root; `<svc>` placeholders are skipped."""
    found = set()
    for span in QUOTED:
        for path in re.findall(r"(?<![\w<>/.-])((?:[\w.-]+/)+[\w.-]+\.(?:py|md|j2|yaml|json))\b", span):
            found.add(path)
    return found


def quoted_functions() -> set[tuple[str, str]]:
    """`services/intake/api.py:post_emergency`, `services/registry/uow.py:PgUnitOfWork.save`: (path, name)."""
    found = set()
    for span in QUOTED:
        for path, name in re.findall(
            r"(?<![\w<>/.-])((?:[\w.-]+/)*[\w.-]+\.py):([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)?)", span
        ):
            found.add((path, name))
    return found


def defines(source: str, name: str) -> bool:
    """A top-level def, class or assignment of `name`; `Class.member`: a def or an attribute in that class's body."""
    if "." not in name:
        return re.search(rf"^(?:async def |def |class ){name}\b|^{name}\b\s*(?::[^=\n]*)?=", source, re.M) is not None
    cls, member = name.split(".")
    head = re.split(rf"^class {cls}\b", source, maxsplit=1, flags=re.M)
    if len(head) != 2:
        return False
    body = re.split(r"^\S", head[1].partition("\n")[2], maxsplit=1, flags=re.M)[0]  # to the next top-level line
    return re.search(rf"^    (?:async def |def ){member}\(|^    {member}\b\s*[:=]", body, re.M) is not None


def trace() -> list[str]:
    """The lines of the section "An emergency from POST to ACTIVE", up to the next heading."""
    section = PAGE.split("\n## An emergency from POST to ACTIVE\n", 1)
    assert len(section) == 2, "docs/CONVENTIONS.md has no section 'An emergency from POST to ACTIVE'"
    return section[1].split("\n## ", 1)[0].strip().splitlines()


def quoted_names() -> set[str]:
    """`shared.outbox.OutboxRelay`, `python -m bench.eligibility_rows`...: dotted names under our packages."""
    pattern = rf"(?<![\w.])((?:{'|'.join(PACKAGES)})(?:\.[A-Za-z_]\w*)+)"
    return {name for span in QUOTED for name in re.findall(pattern, span)}


def resolves(name: str) -> bool:
    """The longest importable module prefix, then attributes for the rest."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        module_name = ".".join(parts[:cut])
        try:
            if importlib.util.find_spec(module_name) is None:
                continue
        except ModuleNotFoundError:  # a parent is a module, not a package: the rest are attributes
            continue
        if cut == len(parts):
            return True
        target: object = importlib.import_module(module_name)
        for attr in parts[cut:]:
            if not hasattr(target, attr):
                return False
            target = getattr(target, attr)
        return True
    return False


def test_the_page_quotes_files_and_names_at_all() -> None:
    assert len(quoted_paths()) > 20 and len(quoted_names()) > 20


def test_every_file_the_page_names_exists() -> None:
    missing = sorted(p for p in quoted_paths() if not (ROOT / p).exists())
    assert not missing, f"docs/CONVENTIONS.md names files that do not exist: {missing}"


def test_every_dotted_name_the_page_quotes_exists() -> None:
    missing = sorted(n for n in quoted_names() if not resolves(n))
    assert not missing, f"docs/CONVENTIONS.md names modules or attributes that do not exist: {missing}"


def test_every_class_member_the_page_quotes_exists() -> None:
    """`OutboxRelay.publish_committed`, `EligibilityHandlers.run`...: some class of that name in shared/,
    services/, testkit/ or pbi_cli/ defines the member."""
    sources = [p.read_text() for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")]
    members = {m for span in QUOTED for m in re.findall(r"(?<![\w./])([A-Z]\w+)\.([a-z_]\w*)\b(?!\.)", span)}
    assert len(members) > 5
    missing = []
    for cls, member in sorted(members):
        defines = rf"(def {member}\(|\n    {member}\b\s*[:=])"
        heads = [re.split(rf"\nclass {cls}\b", s, maxsplit=1) for s in sources]
        bodies = [h[1].split("\nclass ", 1)[0] for h in heads if len(h) == 2]
        if not any(re.search(defines, body) for body in bodies):
            missing.append(f"{cls}.{member}")
    assert not missing, f"docs/CONVENTIONS.md names class members that do not exist: {missing}"


def test_every_path_function_the_page_quotes_is_defined_in_that_file() -> None:
    cited = quoted_functions()
    assert len(cited) > 20
    missing = sorted(
        f"{path}:{name}"
        for path, name in cited
        if not (ROOT / path).is_file() or not defines((ROOT / path).read_text(), name)
    )
    assert not missing, f"docs/CONVENTIONS.md cites functions that are not where it says: {missing}"


def test_the_check_finds_definitions_and_misses_what_is_not_there() -> None:
    source = (
        "X = 1\nY: int = 2\n\n\nclass A(B):\n    n: int = 0\n\n    async def run(self):\n        pass\n\n\n"
        "def f():\n    g = 1\n"
    )
    assert all(defines(source, n) for n in ("X", "Y", "A", "f", "A.n", "A.run"))
    assert not any(defines(source, n) for n in ("g", "A.f", "B.run", "run"))


def test_the_emergency_trace_is_one_page_through_every_service() -> None:
    lines = trace()
    assert len(lines) <= 60, f"the trace is {len(lines)} lines: keep it to a page"
    text = "\n".join(lines)
    for svc in ("intake", "eligibility", "registry", "notifier"):
        assert re.search(rf"`services/{svc}/[\w/]+\.py:\w+", text), f"the trace cites no entry point of {svc}"
    for needed in ("POST /v1/hospital/emergency-reactivations", "publish_committed", "ACTIVE", "timers.py:"):
        assert needed in text, f"the trace does not say {needed!r}"
