"""The one `--check` or write step of the manifest generators (deploy/gen_k8s_*.py)."""

from __future__ import annotations

import sys
from pathlib import Path


def write_or_check(argv: list[str], target: Path, text: str, module: str, wrote: str) -> int:
    """With `--check`: 1 (and how to fix it) when `target` is not `text`; else write it and say `wrote`.
    Any other argument is refused (2, nothing written): a mistyped `--chek` must not rewrite the file."""
    unknown = [a for a in argv if a != "--check"]
    if unknown:
        print(f"usage: python -m {module} [--check]; not understood: {' '.join(unknown)}", file=sys.stderr)
        return 2
    if "--check" in argv:
        if not target.exists() or target.read_text() != text:
            print(f"{target} is stale: run python -m {module}", file=sys.stderr)
            return 1
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    print(f"wrote {wrote} to {target}")
    return 0
