"""`pbi import deactivations FILE`: the lists social offices receive (CSV or .xlsx) into Kafka.

Every row is validated first; rejected rows (line, field, reason) go to FILE.rejected.csv next to the
file and nothing of theirs is published. Each row maps to a deterministic event id and a ledger in
PostgreSQL remembers what was published, so importing the same file twice publishes nothing new.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import zipfile
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from aiokafka.errors import KafkaError
from pydantic import ValidationError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import DateTime, Uuid, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY

from pbi_cli.common import console, run
from services.intake.domain.idempotency import import_event_id
from services.intake.store import MIGRATIONS, SCHEMA
from shared.db import make_engine, migrate
from shared.events import ParticipantDeactivated, validate_as_sent
from shared.kafka import describe_validation_error, ensure_topics
from shared.messaging import DirectPublisher, PublishFailed, Record
from shared.settings import Settings
from shared.topics import PARTICIPANT_EVENTS

app = typer.Typer(help="Import lists (CSV or Excel).", no_args_is_help=True)
COLUMNS = ("nik", "name", "phone", "deactivated_on", "reason", "funding", "province", "regency", "district")
CHUNK = 2000
# One array parameter instead of thousands of bound values: compiled once, cheap for 2,000 ids.
ALREADY_IMPORTED = text(f"select event_id from {SCHEMA}.import_ledger where event_id = any(:ids)").bindparams(
    bindparam("ids", type_=ARRAY(Uuid()))
)
RECORD_IMPORTED = text(
    f"insert into {SCHEMA}.import_ledger (event_id, imported_at) select unnest(:ids), :now on conflict do nothing"
).bindparams(bindparam("ids", type_=ARRAY(Uuid())), bindparam("now", type_=DateTime(timezone=True)))


class ImportFileError(ValueError):
    """A file that cannot be read safely or at all; the message says why, for the person importing it."""


# An .xlsx is a zip of XML. openpyxl streams a sheet's rows (read-only mode) but reads the shared-string
# table whole, so a file whose few kilobytes inflate to a huge string would take hundreds of MB: the
# declared (uncompressed) sizes are checked before anything is parsed. Python's zipfile never inflates
# a member beyond its declared size (it stops and fails the CRC), so the check cannot be lied to.
# The XML itself goes through defusedxml (openpyxl uses it when installed): no entity expansion, no DTD.
XLSX_LIMITS = {
    "shared_strings_bytes": 64 * 2**20,  # about 500,000 rows with a distinct name, NIK and phone each
    "member_bytes": 512 * 2**20,  # one sheet's XML (streamed, row by row)
    "total_bytes": 1024 * 2**20,
    "ratio": 100,  # real XML compresses 5-30x; a bomb 1,000x and more
    "ratio_from_bytes": 2**20,  # small members (styles, a few rows) may compress better harmlessly
}


def check_xlsx(path: Path, limits: dict[str, int] = XLSX_LIMITS) -> None:
    """Refuse an .xlsx whose content would inflate beyond the limits, before it is parsed."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise ImportFileError(f"{path.name} is not a readable .xlsx file ({exc})")
    total = 0
    for member in members:
        size, packed = member.file_size, max(member.compress_size, 1)
        total += size
        limit = (
            limits["shared_strings_bytes"] if member.filename.endswith("sharedStrings.xml") else limits["member_bytes"]
        )
        if size > limit:
            raise ImportFileError(
                f"{path.name}: {member.filename} unpacks to {size / 2**20:,.0f} MiB (limit {limit / 2**20:,.0f} MiB);"
                " split the list into smaller files"
            )
        if size > limits["ratio_from_bytes"] and size / packed > limits["ratio"]:
            raise ImportFileError(
                f"{path.name}: {member.filename} inflates {size // packed:,}x (limit {limits['ratio']}x):"
                " not a spreadsheet a person saved; refused as a zip bomb"
            )
    if total > limits["total_bytes"]:
        raise ImportFileError(
            f"{path.name} unpacks to {total / 2**20:,.0f} MiB in all (limit {limits['total_bytes'] / 2**20:,.0f} MiB)"
        )


def _xlsx_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    from defusedxml import DefusedXmlException
    from openpyxl import load_workbook

    check_xlsx(path)
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)  # rows streamed, never the whole sheet
        try:
            rows = workbook.active.iter_rows(values_only=True)
            header = [str(h or "").strip().lower() for h in next(rows, ())]
            for i, values in enumerate(rows, start=2):
                yield i, {h: _cell(v) for h, v in zip(header, values, strict=False) if h}
        finally:
            workbook.close()
    except (DefusedXmlException, ValueError) as exc:
        # openpyxl wraps what its parser raised while loading ("Unable to read workbook ...").
        cause = exc if isinstance(exc, DefusedXmlException) else exc.__cause__
        if isinstance(cause, DefusedXmlException):
            raise ImportFileError(
                f"{path.name}: refused XML construct ({type(cause).__name__}): not a plain spreadsheet"
            )
        if str(exc).startswith("Unable to read workbook"):
            raise ImportFileError(f"{path.name} is not a readable .xlsx file (invalid XML inside)")
        raise
    except (zipfile.BadZipFile, KeyError) as exc:
        raise ImportFileError(f"{path.name} is not a readable .xlsx file ({exc})")


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) pairs; line numbers as a person sees them in the file (header is line 1)."""
    if path.suffix.lower() == ".xlsx":
        yield from _xlsx_rows(path)
        return
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        reader.fieldnames = [h.strip().lower() for h in reader.fieldnames or []]
        for i, row in enumerate(reader, start=2):
            yield i, {k: (v or "").strip() for k, v in row.items() if k}


def _cell(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value).strip()


def to_event(row: dict[str, str], source: str) -> ParticipantDeactivated:
    region = (
        {"province": row["province"], "regency": row["regency"], "district": row["district"]}
        if row.get("province") and row.get("regency") and row.get("district")
        else None
    )
    nik, on, reason = row.get("nik", ""), row.get("deactivated_on", ""), row.get("reason", "")
    return validate_as_sent(  # an odd reason or number is sorted out, never refused (the fact is kept)
        ParticipantDeactivated.model_validate,
        {
            "event_id": import_event_id(nik, on, reason),
            "occurred_at": dt.datetime.now(dt.UTC),
            "source": source,
            "nik": nik,
            "deactivated_on": on,
            "reason": reason,
            "funding": row.get("funding") or None,
            "name": row.get("name") or None,
            "phone": row.get("phone") or None,
            "region": region,
        },
    )


def validate_file(path: Path, source: str) -> tuple[list[ParticipantDeactivated], list[tuple[int, str, str]]]:
    good, rejected = [], []
    seen: set[Any] = set()
    for line, row in read_rows(path):
        try:
            event = to_event(row, source)
        except ValidationError as exc:
            for err in exc.errors(include_input=False, include_url=False):
                field = ".".join(str(p) for p in err["loc"]) or "row"
                rejected.append(
                    (
                        line,
                        field,
                        describe_validation_error(ValidationError.from_exception_data("row", [err])).removeprefix(
                            "schema violation: "
                        ),
                    )
                )
            continue
        if event.event_id not in seen:  # the same row twice in one file is one event
            seen.add(event.event_id)
            good.append(event)
    return good, rejected


async def publish(settings: Settings, events: list[ParticipantDeactivated], progress: Progress) -> tuple[int, int]:
    """Publish the events not yet in the import ledger; (published, skipped). A chunk enters the ledger only
    after Kafka acknowledged all of it; chunks are pipelined (the next one is sent while acks come back)."""
    engine = make_engine(settings)
    producer = DirectPublisher.for_settings(settings, max_batch_size=512 * 1024)
    task = progress.add_task("publishing", total=len(events))
    topic = settings.topic_prefix + PARTICIPANT_EVENTS.name
    counts = {"published": 0, "skipped": 0}

    async def confirm(acks: Awaitable[None], todo: list[ParticipantDeactivated], size: int) -> None:
        await acks  # acknowledged by Kafka before the ledger says "published"
        if todo:
            async with engine.begin() as conn:
                await conn.execute(RECORD_IMPORTED, {"ids": [e.event_id for e in todo], "now": dt.datetime.now(dt.UTC)})
        counts["published"] += len(todo)
        counts["skipped"] += size - len(todo)
        progress.advance(task, size)

    in_flight: list[asyncio.Task] = []  # type: ignore[type-arg]
    try:
        await migrate(engine, MIGRATIONS, SCHEMA)
        try:
            await ensure_topics(settings)
            await producer.start()
        except (KafkaError, PublishFailed) as exc:
            raise ConnectionError(f"Kafka at {settings.kafka_bootstrap_servers}: {exc}") from exc
        for i in range(0, len(events), CHUNK):
            chunk = events[i : i + CHUNK]
            async with engine.connect() as conn:
                done = set((await conn.execute(ALREADY_IMPORTED, {"ids": [e.event_id for e in chunk]})).scalars())
            todo = [e for e in chunk if e.event_id not in done]
            acks = await producer.send([Record.of(topic, e) for e in todo])
            in_flight.append(asyncio.create_task(confirm(acks, todo, len(chunk))))
            if len(in_flight) >= 3:
                await in_flight.pop(0)
        while in_flight:
            await in_flight.pop(0)
    finally:
        for t in in_flight:
            t.cancel()
        await producer.stop()
        await engine.dispose()
    return counts["published"], counts["skipped"]


def write_report(path: Path, rejected: list[tuple[int, str, str]]) -> Path:
    report = path.with_name(path.name + ".rejected.csv")
    with report.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["line", "field", "reason"])
        w.writerows(rejected)
    return report


@app.command("deactivations")
def deactivations(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="CSV or .xlsx with columns " + ",".join(COLUMNS))
    ],
    source: Annotated[str, typer.Option(help="Where the list comes from")] = "SIKS-NG",
) -> None:
    """Validate every row, report rejected ones next to the file, publish the rest once."""
    if file.suffix.lower() not in (".csv", ".xlsx"):
        raise typer.BadParameter("only .csv and .xlsx files are supported", param_hint="FILE")
    try:
        good, rejected = validate_file(file, source)
    except ImportFileError as exc:
        raise typer.BadParameter(str(exc), param_hint="FILE")
    file.with_name(file.name + ".rejected.csv").unlink(missing_ok=True)  # never a stale report from an earlier run
    if rejected:
        report = write_report(file, rejected)
        console.print(
            f"[yellow]{len({r[0] for r in rejected})} rows rejected[/yellow] (nothing of them published): see {report}"
        )

    async def go(settings: Settings) -> tuple[int, int]:
        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
        ) as progress:
            return await publish(settings, good, progress)

    published, skipped = run(go)
    console.print(
        f"{published:,} deactivations published, {skipped:,} already imported before, "
        f"{len({r[0] for r in rejected}):,} rows rejected"
    )
