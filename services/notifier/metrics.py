"""Prometheus metrics of the notifier."""

from prometheus_client import Counter

SENT = Counter("pbi_notifier_sent_total", "Messages accepted by a provider", ["provider", "kind"])
DELIVERY = Counter("pbi_notifier_delivery_total", "Delivery receipts", ["provider", "state"])
FAILED = Counter("pbi_notifier_failed_total", "Send failures", ["provider", "reason"])
# Escalations of emergencies to on-call operations, queued once per (request, state): the alert rules'
# signal (deploy/monitoring/rules/sla.yaml). `state`: WARNING or BREACHED; `channel`: WHATSAPP, SMS, WEBHOOK.
ESCALATIONS = Counter("pbi_notifier_escalations_total", "Emergency SLA escalations queued", ["state", "channel"])
OPT_OUTS = Counter("pbi_notifier_opt_outs_total", "People who replied BERHENTI/STOP")
NOT_SENT = Counter("pbi_notifier_not_sent_total", "Messages not sent (no phone, opted out)", ["kind", "reason"])
HELD = Counter(
    "pbi_notifier_held_total", "Sends held until quiet hours end (21:00-07:00 local), checked at every attempt"
)
INBOUND = Counter(
    "pbi_notifier_inbound_total",
    "Citizens' inbound messages by command and what became of them",
    ["command", "outcome"],
)
CANCELLED = Counter("pbi_notifier_cancelled_total", "Queued messages cancelled by BERHENTI/STOP")
