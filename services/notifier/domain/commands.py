"""What a citizen's inbound message asks for (pure): CEK, BANDING <reference>, BERHENTI/STOP, MULAI.

People type on phones: any case, stray punctuation and whitespace, WhatsApp's *bold*, full-width
letters, an emoji. A command is the whole message reduced to its words (so "Cek!", " *STOP* ",
"berhenti." are commands, while "berhenti dulu" or "jangan stop" are not: they get the help text,
which names the exact words). BANDING takes the request reference that follows it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    CHECK = "CEK"
    STOP = "BERHENTI"
    START = "MULAI"
    APPEAL = "BANDING"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True)
class Command:
    kind: Kind
    reference: str | None = None  # BANDING's request reference, as typed (without the punctuation around it)


# The words as whole messages. STOP/START are the words phones and providers (Twilio) know anyway.
WORDS: dict[tuple[str, ...], Kind] = {
    ("CEK",): Kind.CHECK,
    ("CEK", "STATUS"): Kind.CHECK,
    ("BERHENTI",): Kind.STOP,
    ("STOP",): Kind.STOP,
    ("MULAI",): Kind.START,
    ("START",): Kind.START,
}
REFERENCE_MAX = 64
_WORD = re.compile(r"[^\W_]+")  # letters and digits of any script; punctuation, emoji, space split words
_BANDING = re.compile("banding", re.IGNORECASE)
_REFERENCE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._/-]*[A-Za-z0-9])?")


def _normalized(text: str) -> str:
    # NFKC folds full-width and other compatibility letters ("ＣＥＫ") into plain ones.
    return unicodedata.normalize("NFKC", text or "")


def parse(text: str) -> Command:
    """The command a message is, or UNKNOWN (answered with the help text)."""
    plain = _normalized(text)
    words = tuple(w.upper() for w in _WORD.findall(plain))
    if words in WORDS:
        return Command(WORDS[words])
    if words and words[0] == "BANDING":
        word = _BANDING.search(plain)
        rest = plain[word.end() :] if word else ""
        found = _REFERENCE.search(rest)
        reference = found.group(0) if found and len(found.group(0)) <= REFERENCE_MAX else None
        return Command(Kind.APPEAL, reference)
    return Command(Kind.UNKNOWN)


def is_opt_out(text: str) -> bool:
    return parse(text).kind is Kind.STOP
