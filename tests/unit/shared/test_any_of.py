"""shared.db.any_of: a batch's values travel as one array parameter, not one parameter each."""

from __future__ import annotations

import uuid

from sqlalchemy import BigInteger, Column, MetaData, String, Table, Uuid, select
from sqlalchemy.dialects import postgresql

from shared.db import any_of

T = Table("t", MetaData(), Column("id", BigInteger), Column("nik", String(16)), Column("rid", Uuid))


def test_one_array_parameter_whatever_the_number_of_values() -> None:
    for values in ([], ["3674015708900001"], [f"36740157089{i:05d}" for i in range(500)]):
        compiled = select(T).where(any_of(T.c.nik, values)).compile(dialect=postgresql.asyncpg.dialect())
        assert "= ANY (" in str(compiled)
        [param] = compiled.params.values()
        assert param == values


def test_the_array_has_the_column_type() -> None:
    ids = [uuid.uuid4(), uuid.uuid4()]
    compiled = select(T.c.id).where(any_of(T.c.rid, ids)).compile(dialect=postgresql.asyncpg.dialect())
    assert "t.rid = ANY ($1::UUID[])" in str(compiled)
    assert list(compiled.params.values()) == [ids]
