"""The replies to citizens' commands, in Bahasa Indonesia (pure).

Every text fits two SMS segments of GSM-7 (306 characters: a reply may fall back to SMS), names a NIK
only masked, and a status answer goes only to the number on file for that NIK (the caller decides
that); anyone else gets GENERAL, which says nothing about anyone.
"""

from __future__ import annotations

import datetime as dt

from services.notifier.domain.standing import Standing
from services.notifier.domain.wording import REASON_TEXT
from shared.enums import ParticipantStatus
from shared.nik import NikError, mask_nik, parse_nik
from shared.timezones import zone_for_nik

S = ParticipantStatus
MAX_CHARS = 306  # two GSM-7 segments

GENERAL = (
    "Layanan WhatsApp PBI JKN. Status peserta hanya dikirim ke nomor HP yang tercatat untuk NIK itu. "
    "Bila Anda peserta, kirim CEK dari nomor tersebut atau datang ke Dinsos/kelurahan dengan KTP & KK."
)
HELP = (
    "Perintah PBI JKN: CEK = status kepesertaan; BANDING <nomor permohonan> = banding atas penolakan; "
    "BERHENTI = berhenti menerima pesan; MULAI = menerima pesan lagi."
)
APPEAL_USAGE = (
    "Untuk banding, kirim BANDING diikuti nomor permohonan yang ada di pesan penolakan, mis. BANDING 3F2A9C1B. "
    "Banding juga bisa diajukan lewat Dinsos setempat."
)
RESUMED = "Pesan PBI JKN untuk nomor ini aktif kembali. Kirim CEK untuk status, BERHENTI untuk berhenti."

DUKCAPIL = "\x00"  # placeholder for "Disdukcapil <regency>" (or plain "Disdukcapil" when too long)
# What is still missing, and where to go for it (a decision's reasons or, before any, the deactivation's).
STEP = {
    "NO_BIOMETRIC": f"rekam biometrik di {DUKCAPIL} (bawa KTP)",
    "BIOMETRIC_MISSING": f"rekam biometrik di {DUKCAPIL} (bawa KTP)",
    "NIK_CONFLICT": f"perbaikan NIK ganda di {DUKCAPIL} (bawa KTP & KK)",
    "ADMINDUK_OFFLINE": f"cek data kependudukan di {DUKCAPIL} (bawa KTP & KK)",
    "DESIL_UNKNOWN": "pembaruan data DTSEN lewat kelurahan/desa",
    "DESIL_ABOVE_5": "perankingan ulang desil: ajukan di kelurahan/desa",
    "NO_ID_SEMESTA": "data Anda masuk SIKS-NG: minta ke desa/kelurahan",
    "DOCUMENT_MISSING": "surat dokter/kelurahan: serahkan ke Dinsos",
    "FACILITY_UNKNOWN": "RS perlu menghubungi Dinsos",
    "OTHER": "hubungi Dinsos (bawa KTP & KK)",
}
_BIOMETRIC = {"NO_BIOMETRIC", "BIOMETRIC_MISSING"}
_DESIL = {"DESIL_UNKNOWN", "DESIL_ABOVE_5"}


def appeal_received(reference: str) -> str:
    """The answer to BANDING <reference> from the number on file: received (not yet judged); the
    outcome follows in its own message."""
    return (
        f"Permintaan banding untuk permohonan {reference.upper()} kami terima dan sedang diproses. "
        "Hasilnya kami kirim ke nomor ini."
    )


def effective_status(s: Standing, now: dt.datetime) -> ParticipantStatus | None:
    """The status as of now: whoever is still out after their window's close is EXPIRED (DOMAIN.md),
    whether or not a decision said so yet."""
    closes = s.window_closes_at
    if s.status in (S.INACTIVE, S.REACTIVATION_PENDING) and closes is not None and now > closes:
        return S.EXPIRED
    return s.status


def days_left(closes_at: dt.datetime, now: dt.datetime, nik: str) -> int:
    """Calendar days from today to the closing day, both in the person's local time (as reminders count)."""
    zone = zone_for_nik(nik)
    return (closes_at.astimezone(zone).date() - now.astimezone(zone).date()).days


def missing(s: Standing) -> list[str]:
    """Codes of what is still missing, without what later facts already cured."""
    codes = list(s.reasons) or ([s.deactivation_reason] if s.deactivation_reason else [])
    cured: set[str] = set()
    if s.biometric_recorded:
        cured |= _BIOMETRIC
    if s.nik_conflict_resolved:
        cured.add("NIK_CONFLICT")
    if s.desil is not None and s.desil <= 5 and _after_deactivation(s.desil_on, s.deactivated_on):
        cured |= _DESIL  # a re-ranking counts only when dated after the deactivation (DOMAIN.md)
    if s.id_semesta:
        cured.add("NO_ID_SEMESTA")
    return [c for c in dict.fromkeys(codes) if c in STEP and c not in cured]


def _after_deactivation(on: dt.date | None, deactivated_on: dt.date | None) -> bool:
    return deactivated_on is None or (on is not None and on > deactivated_on)


def status_answer(s: Standing, now: dt.datetime) -> str:
    """The answer to CEK from the number on file for s.nik."""
    head = f"PBI JKN NIK {mask_nik(s.nik)}:"
    status = effective_status(s, now)
    if s.deceased:
        return _fit(f"{head} NONAKTIF, tercatat meninggal. Bila keliru, bawa KTP & KK ke {DUKCAPIL}.", s.nik)
    if status is None and s.request_open:  # a request seen before any deactivation or decision
        return f"{head} permohonan reaktivasi Anda sedang diproses. Hasilnya kami kirim ke nomor ini."
    if status is None:
        return f"{head} tidak ada catatan penonaktifan pada kami. Info: Dinsos setempat atau BPJS Kesehatan 165."
    if status is S.ACTIVE:
        text = f"{head} AKTIF. Kartu bisa dipakai di faskes."
        if "SIKS_NG_ENTRY" in s.follow_ups and not s.id_semesta:
            text += " Minta desa/kelurahan memasukkan data Anda ke SIKS-NG agar tidak nonaktif lagi."
        return text
    closes = s.window_closes_at
    if status is S.EXPIRED:
        until = f" pada {_date(closes, s.nik)}" if closes else ""
        return (
            f"{head} NONAKTIF. Masa reaktivasi 6 bulan sudah berakhir{until}. "
            "Daftar sebagai peserta baru di Dinsos (bawa KTP & KK)."
        )
    parts = [f"{head} NONAKTIF."]
    if s.deactivated_on and s.deactivation_reason:
        why = REASON_TEXT.get(s.deactivation_reason, "alasan lain")
        parts = [f"{head} NONAKTIF sejak {s.deactivated_on:%d-%m-%Y} ({why})."]
    in_progress = status is S.REACTIVATION_PENDING or s.request_open
    if in_progress:
        parts.append("Permohonan reaktivasi sedang diproses.")
    if closes is not None:
        left = days_left(closes, now, s.nik)
        parts.append(
            f"Hari ini hari terakhir reaktivasi ({_date(closes, s.nik)})."
            if left <= 0
            else f"Sisa {left} hari untuk reaktivasi (s.d. {_date(closes, s.nik)})."
        )
    steps = missing(s)
    if steps:
        parts.append("Yang masih kurang: " + "; ".join(STEP[c] for c in steps) + ".")
    elif in_progress:
        parts.append("Tidak ada yang kurang; tunggu keputusan.")
    else:
        parts.append("Ajukan reaktivasi lewat kelurahan/Dinsos.")
    return _fit(" ".join(parts), s.nik)


def _fit(text: str, nik: str) -> str:
    """Names the person's own Disdukcapil when it fits, else a plain 'Disdukcapil'; never longer than MAX_CHARS."""
    for short in (False, True):
        done = text.replace(DUKCAPIL, _dukcapil(nik, short))
        if len(done) <= MAX_CHARS:
            return done
    return done[: MAX_CHARS - 3].rstrip() + "..."


def _dukcapil(nik: str, short: bool) -> str:
    if short:
        return "Disdukcapil"
    try:
        return f"Disdukcapil {parse_nik(nik).regency_name}"
    except NikError:
        return "Disdukcapil"


def _date(at: dt.datetime | None, nik: str) -> str:
    return at.astimezone(zone_for_nik(nik)).strftime("%d-%m-%Y") if at else "-"
