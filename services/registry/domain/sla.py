"""The emergency SLA board: a request's SLA state only moves forward (OK -> WARNING -> BREACHED,
and MET from any of them), so a late or redelivered timer event never moves it back."""

from __future__ import annotations

from collections.abc import Iterable

from shared.enums import SlaState

SLA_ORDER: tuple[SlaState, ...] = (SlaState.OK, SlaState.WARNING, SlaState.BREACHED, SlaState.MET)


def sla_rank(state: SlaState | str | None) -> int:
    """0 for no state yet, then the position in SLA_ORDER (1..4)."""
    return 0 if state is None else SLA_ORDER.index(SlaState(state)) + 1


def advance_sla(current: SlaState | str | None, incoming: SlaState) -> SlaState:
    """The state after `incoming`: the further along of the two."""
    return incoming if sla_rank(incoming) >= sla_rank(current) else SlaState(current)  # type: ignore[arg-type]


def sla_board(states: Iterable[SlaState | str | None]) -> dict[str, int]:
    """Counts of the board: open (OK, WARNING or BREACHED), warning, breached, met."""
    counts = {"open": 0, "warning": 0, "breached": 0, "met": 0}
    for state in states:
        if state is None:
            continue
        s = SlaState(state)
        if s is SlaState.MET:
            counts["met"] += 1
        else:
            counts["open"] += 1
            if s is SlaState.WARNING:
                counts["warning"] += 1
            elif s is SlaState.BREACHED:
                counts["breached"] += 1
    return counts
