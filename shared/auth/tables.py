"""The `auth` schema: API keys (hashed), bound to scopes and, for hospitals, facility codes; for
regional offices, to a province or regency."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Column, DateTime, String
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel

SCHEMA = "auth"


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_keys"
    __table_args__ = {"schema": SCHEMA}
    key_id: str = Field(primary_key=True, max_length=32)
    name: str = Field(max_length=200)
    secret_hash: str = Field(max_length=128)
    scopes: list[str] = Field(sa_column=Column(ARRAY(String), nullable=False))
    facility_codes: list[str] = Field(default_factory=list, sa_column=Column(ARRAY(String), nullable=False))
    # The `source` stamped on the key's events; None: the key's name (keys issued before 0002).
    source: str | None = Field(default=None, max_length=64)
    # The region a key is bound to (Kemendagri codes: province "36", regency "3674"); None: everywhere.
    province: str | None = Field(default=None, max_length=2)
    regency: str | None = Field(default=None, max_length=4)
    created_at: dt.datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    revoked_at: dt.datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
