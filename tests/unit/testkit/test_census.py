"""The bench's census: row operations and records written per item, from two snapshots."""

from testkit.census import Snapshot, per_item


def test_rows_and_records_per_item_by_table_schema_and_topic() -> None:
    before = Snapshot({"registry.history": (100, 0, 0), "notifier.contacts": (10, 5, 0)}, {"pbi.decisions.v1": 7})
    after = Snapshot(
        {"registry.history": (300, 0, 0), "registry.outbox": (2, 0, 2), "notifier.contacts": (10, 5, 0)},
        {"pbi.decisions.v1": 207, "pbi.status-changes.v1": 200},
    )
    w = per_item(before, after, 100)
    assert w["rows_by_table"] == {"registry.history": 2.0, "registry.outbox": 0.04}  # unchanged tables left out
    assert w["rows_by_schema"] == {"registry": 2.04}
    assert w["rows_per_item"] == 2.04
    assert w["records_by_topic"] == {"pbi.decisions.v1": 2.0, "pbi.status-changes.v1": 2.0}
    assert w["records_per_item"] == 4.0
