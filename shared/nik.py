"""NIK (Nomor Induk Kependudukan): validation, parts and masking.

Regions come from Kemendagri's code list (shared.regions: the codes Dukcapil issues NIKs from,
historic codes of split regions included), not python-stdnum's (BPS-like) list, which only still
lends its separator stripping. Also refuses what stdnum accepts: district 00 and serial 0000.
District codes are labelled when the list knows them and never refused (they change often).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints
from stdnum.id import nik as stdnum_nik

from shared.regions import DISTRICTS, PROVINCES, REGENCIES


class NikError(ValueError):
    """A NIK that cannot be a real one; the message names the problem."""


@dataclass(frozen=True)
class NikParts:
    nik: str
    province_code: str
    regency_code: str  # 4 digits: province + regency
    district_code: str  # 6 digits: province + regency + district
    birth_date: dt.date
    is_female: bool
    serial: str
    province_name: str  # Kemendagri's current names, also for a code from before a split
    regency_name: str  # with its kind: "Kota Tangerang Selatan", "Kabupaten Tangerang"

    @property
    def district_name(self) -> str | None:
        """The kecamatan's name, None when the list does not know the code (computed on demand: a
        field would cost every parse, and only the registry's labels read it)."""
        return DISTRICTS.get(self.district_code)


def _unknown_region(code: str) -> NikError:
    """The error for a 4-digit region code that is not in the list: unknown province, or unknown regency."""
    province = PROVINCES.get(code[:2])
    if province is None:
        return NikError(f"unknown province code {code[:2]}")
    return NikError(f"unknown regency code {code} in province {code[:2]} ({province})")


_SIXTEEN_ASCII_DIGITS = re.compile(r"[0-9]{16}")


def _birth_date(nik: str) -> dt.date:
    """stdnum's reading (DD + 40 for women; 19YY, else 20YY when 19YY is no date) without compacting again."""
    day, month, year = int(nik[6:8]) % 40, int(nik[8:10]), int(nik[10:12])
    try:
        return dt.date(1900 + year, month, day)
    except ValueError:
        return dt.date(2000 + year, month, day)


# Bounded: a wave brings 200,000 different ones, and a cache that size held ~100 MB per service
# (NIK and phone together) for little gain (each is seen a few times, within a few batches).
@functools.lru_cache(maxsize=16_384)
def parse_nik(value: str) -> NikParts:
    """Validate a NIK and return its parts; raises NikError naming the first problem.

    Cached: every consumer validates every event's NIK, and one person's NIK recurs across events."""
    if not isinstance(value, str):
        raise NikError("NIK must be a string of 16 digits")
    # Already compact in nearly every case: skip stdnum's separator stripping then.
    nik = value if _SIXTEEN_ASCII_DIGITS.fullmatch(value) else stdnum_nik.compact(value)
    if not nik:
        raise NikError("NIK is empty: 16 digits expected")
    if not nik.isdigit():
        raise NikError("NIK must contain digits only")
    if len(nik) != 16:
        raise NikError(f"NIK must be 16 digits, got {len(nik)}")
    # A dict lookup in the list loaded once (shared.regions); historic codes are keys too.
    names = REGENCIES.get(nik[:4])
    if names is None:
        raise _unknown_region(nik[:4])
    if nik[4:6] == "00":
        raise NikError("district code 00 is not valid")
    try:
        birth_date = _birth_date(nik)
    except ValueError:
        raise NikError(f"birth date part DDMMYY {nik[6:12]} is not a valid date (women have 40 added to DD)")
    if int(nik[6:8]) > 71 or 31 < int(nik[6:8]) < 41:
        raise NikError(f"birth day {nik[6:8]} is out of range (01-31, or 41-71 for women)")
    if nik[12:] == "0000":
        raise NikError("serial number 0000 is not valid")
    return NikParts(
        nik=nik,
        province_code=nik[:2],
        regency_code=nik[:4],
        district_code=nik[:6],
        birth_date=birth_date,
        is_female=int(nik[6:8]) > 40,
        serial=nik[12:],
        province_name=names[0],
        regency_name=names[1],
    )


def validate_nik(value: str) -> str:
    """The NIK's 16 digits, or NikError naming the problem (parse_nik's). Every service validates every
    event's NIK, nearly all of them valid and each new to the process (a wave's people): a valid one is
    checked here without building its parts or filling parse_nik's cache, the rest is parse_nik's."""
    if isinstance(value, str) and _SIXTEEN_ASCII_DIGITS.fullmatch(value) and _valid_digits(value):
        return value
    return parse_nik(value).nik


_MONTH_DAYS = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _valid_digits(nik: str) -> bool:
    """parse_nik's checks of 16 ASCII digits, as one answer: a known regency, district not 00, a birth
    date (DD 01-31, or 41-71 for women; 29 February when 19YY or 20YY is a leap year: YY divisible by 4),
    serial not 0000. tests/unit/shared/test_nik.py checks it against parse_nik."""
    if nik[:4] not in REGENCIES or nik[4:6] == "00" or nik[12:] == "0000":
        return False
    dd, month = int(nik[6:8]), int(nik[8:10])
    day = dd - 40 if dd > 40 else dd
    if dd > 71 or not 1 <= month <= 12 or not 1 <= day <= _MONTH_DAYS[month]:
        return False
    return day < 29 or month != 2 or int(nik[10:12]) % 4 == 0


def mask_nik(nik: str) -> str:
    """`3674********0001`: enough to tell records apart, not enough to identify a person."""
    return f"{nik[:4]}{'*' * 8}{nik[12:]}" if len(nik) == 16 else "*" * len(nik)


_SIXTEEN_DIGITS = re.compile(r"(?<!\d)(\d{4})\d{8}(\d{4})(?!\d)")


def mask_niks_in_text(text: str) -> str:
    """Mask every 16-digit run in free text (log lines, error messages)."""
    return _SIXTEEN_DIGITS.sub(r"\1********\2", text)


# Stripped and measured by pydantic-core itself (a length error is `string_too_short`/`string_too_long`): as a
# Python strip before the lengths, pydantic ran both length checks in Python too, three calls per NIK.
Nik = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=16, max_length=16),
    Field(examples=["3674015708900001"], description="16-digit NIK"),
    AfterValidator(validate_nik),
]
