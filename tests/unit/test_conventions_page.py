"""docs/CONVENTIONS.md describes the code as it is: every file and every dotted name it quotes exists."""

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
