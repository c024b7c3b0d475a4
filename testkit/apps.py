"""One service's app run in the test's own process: its lifespan (migrations, topics, consumers, relays)
started and stopped around a block, as `pbi run` would, without a server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[FastAPI]:
    async with app.router.lifespan_context(app):
        yield app
