"""One masking function for every free text that may leave a service: log lines (tracebacks and
third-party loggers included), span names and attributes, dead-letter reasons, notification reasons,
what `pbi dlq peek` prints.

It masks NIK-like runs of exactly 16 digits and Indonesian mobile numbers (`08…`, `628…`, `+628…`,
9 to 12 national digits, spaces, dots or dashes allowed between digits). A run counts only when it is
bounded by something other than a letter or a digit, as the log scan in the tests judges (the digits
inside a hex correlation id or a UUID are not a NIK); tests/unit/shared/test_masking.py checks that
nothing the scan calls a leak survives this function.
"""

from __future__ import annotations

import re

_EDGE_BEFORE = r"(?<![0-9A-Za-z])"
_EDGE_AFTER = r"(?![0-9A-Za-z])"
_NIK = re.compile(_EDGE_BEFORE + r"(\d{4})\d{8}(\d{4})" + _EDGE_AFTER)
# "+62", "62" or the trunk "0", then 8 and 8 to 11 more digits, single separators allowed in between.
_PHONE = re.compile(_EDGE_BEFORE + r"(\+?62|0)[ .-]?(8(?:[ .-]?\d){8,11})" + _EDGE_AFTER)


def _phone(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match[2])
    return f"{match[1]}{digits[:3]}{'*' * (len(digits) - 6)}{digits[-3:]}"


def mask_personal_data(text: str) -> str:
    """`3674015708900001` -> `3674********0001`, `+6281234567890` -> `+62812*****890`."""
    if not any(c.isdigit() for c in text):  # most log lines: nothing to do
        return text
    return _PHONE.sub(_phone, _NIK.sub(r"\1********\2", text))
