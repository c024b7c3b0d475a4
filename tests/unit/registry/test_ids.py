"""The registry's derived ids are uuid.uuid5's, bit for bit (a redelivered event must get the same ids)."""

from __future__ import annotations

import pickle
import uuid

from services.registry.domain.ids import uuid5


def test_the_same_ids_as_the_standard_uuid5() -> None:
    namespace = uuid.UUID("5a0f3b0e-8f4f-4d7e-9d61-6a1b9a3c2f70")
    for k in range(2000):
        name = f"{uuid.UUID(int=k * 7919 + 1)}:3674015708{k:06d}"
        made, standard = uuid5(namespace.bytes, name), uuid.uuid5(namespace, name)
        assert made == standard and str(made) == str(standard) and hash(made) == hash(standard)
        assert made.version == 5 and made.variant == uuid.RFC_4122
    assert pickle.loads(pickle.dumps(made)) == made
