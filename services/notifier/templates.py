"""Message texts in Bahasa Indonesia (Jinja2, one file per kind), short enough for 1-2 SMS segments,
with the NIK masked and the next step for the person."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from services.notifier.domain.wording import REASON_TEXT
from shared.nik import mask_nik

ENV = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    undefined=StrictUndefined,
    autoescape=False,
    keep_trailing_newline=False,
)
KINDS = (
    "deactivated",
    "deactivated_deceased",  # to the family's number: condolence, no promise of reactivation
    "received",
    "pending",
    "approved",
    "emergency_approved",
    "rejected",
    "expired",
    "window_closing",
    "appeal_received",  # an appeal is open (due date, reference)
    "appeal_upheld",  # the request's APPROVED decision that an upheld appeal brings
    "appeal_dismissed",
    "appeal_refused",  # BANDING that opens nothing (not rejected, appealed before, unknown reference)
)

APPEAL_REFUSAL_TEXT = {
    "NOT_REJECTED": "pengajuan ini tidak berstatus ditolak",
    "ALREADY_APPEALED": "keputusan ini sudah pernah dibanding",
    "UNKNOWN_REQUEST": "nomor referensi tidak dikenali",
}
NEXT_STEP = {
    "DESIL_UNKNOWN": "Minta kelurahan memperbarui data sosial ekonomi.",
    "BIOMETRIC_MISSING": "Rekam biometrik di Disdukcapil.",
    "NIK_CONFLICT": "Bawa KTP & KK ke Disdukcapil.",
    "DOCUMENT_MISSING": "Lengkapi surat dokter/kelurahan ke Dinsos.",
    "DESIL_ABOVE_5": "Ajukan perankingan ulang di kelurahan.",
    "WINDOW_EXPIRED": "Daftar sebagai peserta baru di Dinsos.",
    "DECEASED": "Keluarga dapat melapor ke Disdukcapil bila keliru.",
    "FACILITY_UNKNOWN": "Minta RS menghubungi Dinsos.",
    "NOT_DEACTIVATED": "Cek status di Dinsos.",
    "ALREADY_ACTIVE": "Kartu Anda sudah bisa dipakai.",
    "NEW_DEACTIVATION": "Ajukan reaktivasi baru ke Dinsos.",
}

# What a deactivated person should do, by deactivation reason: which office, which document.
DEACTIVATION_STEP = {
    "DESIL_ABOVE_5": "Minta kelurahan memperbarui data DTSEN; bawa KTP & KK.",
    "NIK_CONFLICT": "Bawa KTP & KK ke Disdukcapil untuk perbaikan NIK.",
    "DECEASED": "Bila keliru, bawa KTP & KK ke Disdukcapil.",
    "NO_BIOMETRIC": "Rekam biometrik di Disdukcapil dengan KTP.",
    "ADMINDUK_OFFLINE": "Cek data kependudukan di Disdukcapil dengan KTP & KK.",
    "NO_ID_SEMESTA": "Minta desa/kelurahan memasukkan data Anda ke SIKS-NG.",
    "OTHER": "Hubungi Dinsos dengan KTP & KK.",
}
GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)


# Stand-ins for what differs from person to person (private-use characters: no template has them, and the
# whitespace folding keeps them): a text is rendered once per kind and context, then the person's masked
# NIK and reference are put in. A wave's thousands of notices are a handful of renders.
_NIK, _REFERENCE = "\ue000", "\ue001"


def render(kind: str, nik: str, context: dict[str, Any]) -> str:
    reference = str(context.get("reference") or "")
    shared = tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in context.items() if k != "reference")
    text = _render(kind, bool(reference), shared)
    return text.replace(_NIK, mask_nik(nik)).replace(_REFERENCE, reference)


@functools.lru_cache(maxsize=4096)
def _render(kind: str, has_reference: bool, shared: tuple[tuple[str, Any], ...]) -> str:
    context = dict(shared)
    reasons = list(context.get("reasons") or [])
    closes = context.get("window_closes_at")
    values = {
        "nik": _NIK,
        "reasons_text": ", ".join(REASON_TEXT.get(r, r) for r in reasons) or "-",
        "next_step": next((NEXT_STEP[r] for r in reasons if r in NEXT_STEP), "Hubungi Dinsos setempat."),
        "reason_text": REASON_TEXT.get(str(context.get("reason", "OTHER")), "alasan lain"),
        "deactivated_on": _date(context.get("deactivated_on")),
        "days_left": context.get("days_left", "-"),
        "closes_on": _date(closes),
        "follow_siks": "SIKS_NG_ENTRY" in (context.get("follow_ups") or []),
        "reference": _REFERENCE if has_reference else "",
        "due_on": _date(context.get("due_at")),
        "refusal_text": next((APPEAL_REFUSAL_TEXT[r] for r in reasons if r in APPEAL_REFUSAL_TEXT), "tidak dikenali"),
        "deactivation_step": DEACTIVATION_STEP.get(str(context.get("reason", "OTHER")), DEACTIVATION_STEP["OTHER"]),
    }
    return " ".join(ENV.get_template(f"{kind}.j2").render(**values).split())


def _date(value: Any) -> str:
    return value.strftime("%d-%m-%Y") if hasattr(value, "strftime") else str(value or "-")[:10]
