"""The one topic catalogue: names, partitions, retention, compaction, dead-letter topics.

Every topic is keyed by NIK so one person's events stay in order on one partition
whatever the partition count. Partition counts bound consumer parallelism (replicas).
"""

from __future__ import annotations

from dataclasses import dataclass, field

DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    retention_ms: int
    description: str
    event_types: tuple[str, ...]
    cleanup_policy: str = "delete"
    has_dlq: bool = True
    configs: dict[str, str] = field(default_factory=dict)

    @property
    def dlq(self) -> str:
        return f"{self.name}.dlq"


PARTICIPANT_EVENTS = TopicSpec(
    "pbi.participant-events.v1",
    12,
    30 * DAY_MS,
    "Facts from SIKS-NG, BPJS, DTSEN and Dukcapil: deactivations, desil updates, biometrics, deaths",
    (
        "participant.deactivated",
        "participant.desil_updated",
        "participant.biometric_recorded",
        "participant.death_reported",
        "participant.nik_conflict_reported",
        "participant.nik_conflict_resolved",
        "participant.id_semesta_assigned",
    ),
)
REACTIVATION_REQUESTS = TopicSpec(
    "pbi.reactivation-requests.v1",
    6,
    30 * DAY_MS,
    "Regular and chronic-disease reactivation requests from Dinsos, villages and WhatsApp",
    ("reactivation.requested",),
)
EMERGENCY_REQUESTS = TopicSpec(
    "pbi.emergency-requests.v1",
    3,
    30 * DAY_MS,
    "Emergency (hospital) requests: their own lane so bulk backlogs never delay them",
    ("reactivation.requested",),
)
DECISIONS = TopicSpec(
    "pbi.decisions.v1",
    6,
    90 * DAY_MS,
    "Eligibility decisions, and what became of appeals (appeal.updated)",
    ("reactivation.decided", "appeal.updated"),
)
EMERGENCY_DECISIONS = TopicSpec(
    "pbi.emergency-decisions.v1",
    3,
    30 * DAY_MS,
    "A copy of each EMERGENCY-path decision (same event id and key), for the urgent roles: a wave's regular "
    "decisions stay off their lane; pbi.decisions.v1 keeps every decision (all paths, appeals) as before",
    ("reactivation.decided",),
)
TIMER_EVENTS = TopicSpec(
    "pbi.timer-events.v1",
    3,
    30 * DAY_MS,
    "Emergency SLA states (warning/breach/met): what an emergency's path needs, read by the urgent roles",
    ("emergency.sla_changed",),
)
WINDOW_REMINDERS = TopicSpec(
    "pbi.window-reminders.v1",
    6,
    30 * DAY_MS,
    "Window-closing reminders (bulk: a wave's thousands), kept off the urgent timer topic",
    ("participant.window_reminder_due",),
)
STATUS_CHANGES = TopicSpec(
    "pbi.status-changes.v1",
    6,
    30 * DAY_MS,
    "Registry status transitions (transactional outbox)",
    ("participant.status_changed",),
)
NOTIFICATION_EVENTS = TopicSpec(
    "pbi.notification-events.v1",
    3,
    14 * DAY_MS,
    "Notifier delivery state per message, for the dashboard",
    ("notification.updated",),
)

PRIVACY_EVENTS = TopicSpec(
    "pbi.privacy-events.v1",
    3,
    30 * DAY_MS,
    "Data-subject requests (UU PDP): the registry announces an erasure, every service holding contact data erases",
    ("participant.personal_data_erased",),
)

APPEALS = TopicSpec(
    "pbi.appeals.v1",
    3,
    30 * DAY_MS,
    "Appeals of rejections (intake's POST /v1/appeals, WhatsApp BANDING via the notifier) and operators' reviews",
    ("appeal.requested", "appeal.reviewed"),
)

CATALOGUE: tuple[TopicSpec, ...] = (
    PARTICIPANT_EVENTS,
    REACTIVATION_REQUESTS,
    EMERGENCY_REQUESTS,
    DECISIONS,
    EMERGENCY_DECISIONS,
    TIMER_EVENTS,
    WINDOW_REMINDERS,
    STATUS_CHANGES,
    NOTIFICATION_EVENTS,
    PRIVACY_EVENTS,
    APPEALS,
)
DLQ_RETENTION_MS = 90 * DAY_MS


@dataclass(frozen=True)
class Replication:
    """How many copies of each partition a cluster keeps, and how many must have a write before an
    acks=all producer (shared.kafka.make_broker) is answered."""

    factor: int
    min_insync: int


def replication_for(brokers: int, requested: int | None = None) -> Replication:
    """Replication for topics created on a cluster of `brokers` (or `requested` copies, when set): three
    copies with min.insync.replicas=2 from three brokers up, as the production cluster (a write survives one
    broker down and is refused, never lost, with two down); one copy on a single broker (local, tests)."""
    if brokers < 1:
        raise ValueError(f"a Kafka cluster has at least one broker, not {brokers}")
    factor = requested if requested is not None else min(3, brokers)
    if not 1 <= factor <= brokers:
        raise ValueError(f"replication factor {factor} needs as many brokers, the cluster has {brokers}")
    return Replication(factor, 2 if factor >= 3 else 1)


def all_topic_names(prefix: str = "") -> list[str]:
    names = []
    for spec in CATALOGUE:
        names.append(prefix + spec.name)
        if spec.has_dlq:
            names.append(prefix + spec.dlq)
    return names
