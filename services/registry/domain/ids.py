"""Name-based ids (uuid5) made without uuid.UUID's checking constructor: a batch derives several per event
(a status change's id, a worklist item's), and the standard function spent half its time building the
UUID object from bytes it had just made. The ids are uuid.uuid5's, bit for bit
(tests/unit/registry/test_ids.py)."""

from __future__ import annotations

import uuid
from hashlib import sha1

_new, _set = object.__new__, object.__setattr__
_CLEAR = ~((0xC000 << 48) | (0xF000 << 64))  # the variant's two bits and the version's four
_SET = (0x8000 << 48) | (5 << 76)  # RFC 4122 variant, version 5


def uuid5(namespace: bytes, name: str) -> uuid.UUID:
    """`uuid.uuid5(UUID(bytes=namespace), name)`."""
    value = int.from_bytes(sha1(namespace + name.encode()).digest()[:16]) & _CLEAR | _SET
    made = _new(uuid.UUID)
    _set(made, "int", value)
    _set(made, "is_safe", uuid.SafeUUID.unknown)
    return made
