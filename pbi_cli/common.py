"""Helpers every `pbi` command uses: settings, an event loop, errors a person can read."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer
from aiokafka.errors import KafkaError
from rich.console import Console
from sqlalchemy.exc import DBAPIError

from shared.settings import Settings

T = TypeVar("T")
console = Console(stderr=True)


def run(coro_factory: Callable[[Settings], Awaitable[T]]) -> T:
    settings = Settings()
    try:
        return asyncio.run(coro_factory(settings))  # type: ignore[arg-type]
    except (ValueError, LookupError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2)
    except (OSError, DBAPIError, KafkaError) as exc:
        detail = str(getattr(exc, "orig", None) or exc).splitlines()[0][:200]
        console.print(f"[red]error:[/red] cannot reach the database or broker ({detail}). Is `make infra-up` running?")
        raise typer.Exit(1)
