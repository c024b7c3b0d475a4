"""One service's app run in the test's own process: its lifespan (migrations, topics, consumers, relays)
started and stopped around a block, as `pbi run` would, without a server (`running`) or on a socket (`serving`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[FastAPI]:
    async with app.router.lifespan_context(app):
        yield app


@asynccontextmanager
async def serving(app: FastAPI, port: int) -> AsyncIterator[FastAPI]:
    """The app on a real socket (uvicorn in this event loop), lifespan included: for apps that are called back
    (the notifier's webhooks)."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield app
    finally:
        server.should_exit = True
        await task
