"""A realistic day for Tangerang Selatan (seed 001), generated deterministically from a seed.

The wave: 20,990 deactivations across seven districts with the published counts, NIKs valid
for those districts, phone numbers for most, a believable mix of reasons. Then DTSEN desil
updates and Dukcapil biometric/death facts for part of them, and regular, chronic-disease and
emergency requests (some late, some for deceased people, some with missing documents), and a
few requests from people never deactivated, here and anywhere in Kemendagri's list of regencies.
Dates are placed relative to `today` so the 6-month windows are mostly still open.
Used by `pbi demo`, the end-to-end tests and the benchmarks.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

from shared.regions import DISTRICTS as DISTRICT_NAMES
from shared.regions import HISTORIC, REGENCIES

REGENCY = "3674"  # Kota Tangerang Selatan
PROVINCE_NAME, REGENCY_NAME = REGENCIES[REGENCY]
# Kecamatan of Kota Tangerang Selatan with the counts SIKS-NG published for the wave (seed 001).
PUBLISHED_COUNTS: tuple[tuple[str, int], ...] = (
    ("Pamulang", 4006),
    ("Serpong", 3852),
    ("Ciputat", 3804),
    ("Pondok Aren", 3662),
    ("Ciputat Timur", 2471),
    ("Setu", 1667),
    ("Serpong Utara", 1528),
)


def _district_code(name: str) -> str:
    """The two-digit Kemendagri code of a kecamatan of REGENCY, from shared/data's list."""
    [code] = [c[4:] for c, n in DISTRICT_NAMES.items() if c[:4] == REGENCY and n == name]
    return code


# (name, Kemendagri district code, count): the code is the one the NIKs of that kecamatan carry.
DISTRICTS: tuple[tuple[str, str, int], ...] = tuple((n, _district_code(n), count) for n, count in PUBLISHED_COUNTS)
WAVE_SIZE = sum(count for _, _, count in DISTRICTS)  # 20,990
# Regencies/cities whose people also ask (never deactivated here): the whole country, Papua included.
ELSEWHERE = sorted(code for code in REGENCIES if code != REGENCY and code not in HISTORIC)

REASON_MIX = (
    ("DESIL_ABOVE_5", 0.70),
    ("NO_BIOMETRIC", 0.08),
    ("ADMINDUK_OFFLINE", 0.05),
    ("NO_ID_SEMESTA", 0.06),
    ("NIK_CONFLICT", 0.03),
    ("DECEASED", 0.02),
    ("OTHER", 0.06),
)

FACILITIES: tuple[tuple[str, str], ...] = (
    ("3674R001", "RSUD Kota Tangerang Selatan"),
    ("3674R002", "RSU Kota Tangerang Selatan (Pamulang)"),
    ("3674R003", "RS Eka Hospital BSD"),
    ("3674R004", "RS Premier Bintaro"),
    ("3674R005", "RS Omni Alam Sutera"),
    ("3674R006", "RS Medika BSD"),
    ("3674R007", "RS Permata Pamulang"),
    ("3674R008", "RS Sari Asih Ciputat"),
    ("3674R009", "RS Bhineka Bakti Husada"),
    ("3674R010", "RSIA Bunda Dalima"),
    ("3674P001", "Puskesmas Pamulang"),
    ("3674P002", "Puskesmas Ciputat"),
    ("3674P003", "Puskesmas Serpong 1"),
    ("3674P004", "Puskesmas Pondok Aren"),
    ("3674P005", "Puskesmas Setu"),
)

FIRST_NAMES = (
    "Siti",
    "Nur",
    "Dewi",
    "Sri",
    "Ahmad",
    "Muhammad",
    "Budi",
    "Agus",
    "Rina",
    "Yanti",
    "Wahyu",
    "Eko",
    "Dedi",
    "Asep",
    "Iwan",
    "Lina",
    "Ratna",
    "Hendra",
    "Fitri",
    "Rudi",
    "Tuti",
    "Joko",
)
LAST_NAMES = (
    "Rahayu",
    "Hidayat",
    "Saputra",
    "Lestari",
    "Setiawan",
    "Wulandari",
    "Kurniawan",
    "Susanti",
    "Pratama",
    "Handayani",
    "Nurhayati",
    "Suryadi",
    "Maulana",
    "Permata",
    "Gunawan",
    "Sulastri",
)
MOBILE_PREFIXES = ("811", "812", "813", "821", "822", "852", "853", "857", "858", "877", "878", "895", "896")
ICD10 = ("I21.9", "J18.9", "N18.5", "E11.9", "C50.9", "I63.9", "K92.2", "O72.1", "A91", "J44.1")


@dataclass
class Person:
    nik: str
    name: str
    district: str
    phone: str | None
    reason: str
    funding: str
    deactivated_on: dt.date


@dataclass
class DemoDay:
    today: dt.date
    people: list[Person]
    facts: list[dict] = field(default_factory=list)  # POST /v1/events bodies
    requests: list[dict] = field(default_factory=list)  # POST /v1/reactivations bodies
    emergencies: list[dict] = field(default_factory=list)  # POST /v1/hospital/emergency-reactivations bodies
    facilities: tuple[tuple[str, str], ...] = FACILITIES

    def deactivation_rows(self) -> Iterator[dict[str, str]]:
        """Rows of the list Dinsos receives (the `pbi import deactivations` CSV format)."""
        for p in self.people:
            yield {
                "nik": p.nik,
                "name": p.name,
                "phone": p.phone or "",
                "deactivated_on": p.deactivated_on.isoformat(),
                "reason": p.reason,
                "funding": p.funding,
                "province": PROVINCE_NAME,  # labels as the registry derives them from a NIK
                "regency": REGENCY_NAME,
                "district": p.district,
            }


def _nik(rng: random.Random, district_code: str, used: set[str], regency: str = REGENCY) -> str:
    while True:
        birth = dt.date(1940, 1, 1) + dt.timedelta(days=rng.randrange(0, 75 * 365))
        day = birth.day + (40 if rng.random() < 0.52 else 0)
        nik = f"{regency}{district_code}{day:02d}{birth.month:02d}{birth.year % 100:02d}{rng.randrange(1, 10000):04d}"
        if nik not in used:
            used.add(nik)
            return nik


def _pick(rng: random.Random, mix: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([k for k, _ in mix], weights=[w for _, w in mix])[0]


def _at(day: dt.date, rng: random.Random) -> str:
    moment = dt.datetime.combine(day, dt.time(8), tzinfo=dt.timezone(dt.timedelta(hours=7)))
    return (moment + dt.timedelta(minutes=rng.randrange(0, 9 * 60))).isoformat()


def generate(scale: float = 1.0, seed: int = 2026, today: dt.date | None = None) -> DemoDay:
    """The demo day. `scale` shrinks every count (0.02 gives ~420 people) for CI."""
    rng = random.Random(seed)
    today = today or dt.date.today()
    used: set[str] = set()
    people: list[Person] = []
    for district, code, count in DISTRICTS:
        for _ in range(max(1, round(count * scale))):
            late = rng.random() < 0.03  # deactivated more than six months ago: window closed
            age_days = rng.randrange(200, 260) if late else rng.randrange(14, 160)
            phone = f"0{rng.choice(MOBILE_PREFIXES)}{rng.randrange(0, 10**8):08d}" if rng.random() < 0.85 else None
            people.append(
                Person(
                    _nik(rng, code, used),
                    f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
                    district,
                    phone,
                    _pick(rng, REASON_MIX),
                    "APBN" if rng.random() < 0.8 else "APBD",
                    today - dt.timedelta(days=age_days),
                )
            )
    day = DemoDay(today, people)
    _add_facts(day, rng)
    _add_requests(day, rng, used)
    return day


def _fact(rng: random.Random, p: Person, type_: str, source: str, when: dt.date, **fields: object) -> dict:
    return {
        "event_id": str(uuid.UUID(int=rng.getrandbits(128))),
        "type": type_,
        "occurred_at": _at(when, rng),
        "source": source,
        "nik": p.nik,
        **fields,
    }


def _add_facts(day: DemoDay, rng: random.Random) -> None:
    for p in day.people:
        since = p.deactivated_on + dt.timedelta(days=1)
        when = min(day.today, since + dt.timedelta(days=rng.randrange(0, 30)))
        if p.reason == "DECEASED":
            day.facts.append(
                _fact(
                    rng,
                    p,
                    "participant.death_reported",
                    "DUKCAPIL",
                    when,
                    died_on=(p.deactivated_on - dt.timedelta(days=rng.randrange(5, 60))).isoformat(),
                )
            )
            continue
        if p.reason == "NIK_CONFLICT":
            day.facts.append(_fact(rng, p, "participant.nik_conflict_reported", "DUKCAPIL", when))
            if rng.random() < 0.4:
                day.facts.append(_fact(rng, p, "participant.nik_conflict_resolved", "DUKCAPIL", day.today))
        if rng.random() < 0.35:  # DTSEN re-ranking after the village updated the household's data
            desil = rng.randint(1, 5) if rng.random() < 0.65 else rng.randint(6, 10)
            day.facts.append(
                _fact(rng, p, "participant.desil_updated", "DTSEN", when, desil=desil, effective_on=when.isoformat())
            )
        if p.reason == "NO_BIOMETRIC" and rng.random() < 0.5 or p.reason != "NO_BIOMETRIC" and rng.random() < 0.6:
            day.facts.append(
                _fact(rng, p, "participant.biometric_recorded", "DUKCAPIL", when, recorded_on=when.isoformat())
            )
        if rng.random() < 0.5:
            day.facts.append(
                _fact(
                    rng,
                    p,
                    "participant.id_semesta_assigned",
                    "SIKS-NG",
                    when,
                    id_semesta=f"IDS-{rng.randrange(10**9, 10**10)}",
                )
            )


def _emergency(rng: random.Random, p: Person, today: dt.date) -> dict:
    return {
        "nik": p.nik,
        "facility_code": rng.choice(FACILITIES[:10])[0],
        "letter_no": f"RS/{rng.randrange(1000, 9999)}/IGD/{today.year}",
        "admitted_at": _at(today, rng),
        "diagnosis_icd10": rng.choice(ICD10),
        **({"phone": p.phone} if p.phone else {}),
    }


def _add_requests(day: DemoDay, rng: random.Random, used: set[str]) -> None:
    for p in day.people:
        roll = rng.random()
        if roll < 0.08:
            day.requests.append(
                {
                    "nik": p.nik,
                    "path": "REGULAR",
                    "channel": rng.choice(["VILLAGE", "DINSOS", "WHATSAPP"]),
                    **({"phone": p.phone} if p.phone else {}),
                }
            )
        elif roll < 0.10:
            docs: dict[str, object] = {
                "village_letter": {
                    "letter_no": f"470/{rng.randrange(100, 999)}/KEL",
                    "desil": rng.randint(1, 5) if rng.random() < 0.8 else 7,
                }
            }
            if rng.random() < 0.8:  # some arrive without the doctor's letter
                docs["doctor_letter"] = {
                    "register_no": f"STR-{rng.randrange(10**6, 10**7)}",
                    "diagnosis_icd10": rng.choice(ICD10),
                }
            day.requests.append(
                {
                    "nik": p.nik,
                    "path": "CHRONIC",
                    "channel": "DINSOS",
                    "documents": docs,
                    **({"phone": p.phone} if p.phone else {}),
                }
            )
        elif roll < 0.106:
            day.emergencies.append(_emergency(rng, p, day.today))
    # Enough emergencies to watch at any scale, including one for a person who has died.
    while len(day.emergencies) < 3:
        day.emergencies.append(_emergency(rng, rng.choice(day.people), day.today))
    deceased = [p for p in day.people if p.reason == "DECEASED"]
    if deceased:
        day.emergencies.append(_emergency(rng, deceased[0], day.today))
    # People who were never deactivated still ask (NOT_DEACTIVATED), and a few emergencies come through
    # POST /v1/reactivations (path EMERGENCY) from a hospital, with its own key (CONTRACT.md: the letter's
    # facility must be the key's).
    for _ in range(max(1, len(day.people) // 400)):
        stranger = _nik(rng, rng.choice(DISTRICTS)[1], used)
        day.requests.append({"nik": stranger, "path": "REGULAR", "channel": "VILLAGE"})
        # ... and from anywhere in the country (Kemendagri's list: Papua's NIKs are valid too).
        regency = rng.choice(ELSEWHERE)
        district = rng.choice([c[4:] for c in DISTRICT_NAMES if c[:4] == regency] or ["01"])
        traveller = _nik(rng, district, used, regency)
        day.requests.append({"nik": traveller, "path": "REGULAR", "channel": "WHATSAPP"})
        person = rng.choice(day.people)
        day.requests.append(
            {
                "nik": person.nik,
                "path": "EMERGENCY",
                "channel": "HOSPITAL",
                "documents": {
                    "hospital_letter": {
                        "facility_code": day.facilities[0][0],
                        "letter_no": f"KLINIK/{rng.randrange(100, 999)}",
                        "issued_on": day.today.isoformat(),
                    }
                },
            }
        )
