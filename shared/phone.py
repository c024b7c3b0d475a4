"""Indonesian mobile numbers: accept 08…, 628…, +628…; store E.164 (+628…); mask for logs.
A contact number arriving with a fact is sorted, not refused (classify_phone): only a mobile is usable."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType
from pydantic import AfterValidator, Field


class PhoneError(ValueError):
    """A phone number that is not an Indonesian mobile number; the message says why (never the number).
    `not_mobile` is the E.164 form when it is a valid Indonesian number of another kind (a landline)."""

    def __init__(self, message: str, not_mobile: str | None = None) -> None:
        super().__init__(message)
        self.not_mobile = not_mobile


_SEPARATORS = re.compile(r"[\s\-().]")
_MOBILE_TYPES = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}


# Numbers starting with 8 after the country code or trunk 0: Indonesian mobiles, and a few other
# kinds (800 toll-free...). For these, libphonenumber's verdict depends only on the first digits
# and the length (ID mobile pattern: 8[1-35-9] and 9 to 12 digits), so it is asked once per
# (5-digit prefix, length) and remembered: a wave of 200,000 new numbers costs a few hundred
# parses instead of 200,000 (~50 us each, in every service that validates the event).
# tests/unit/shared/test_phone_and_timezones.py checks the shortcut against the library.
_EIGHT = re.compile(r"(?:\+62|62|0)(8\d{6,12})")
_VERDICT_PREFIX = 5
# None: a valid mobile; else PhoneError's message and whether the number is valid but not a mobile
_verdicts: dict[tuple[str, int], tuple[str, bool] | None] = {}


# Bounded: a wave brings 200,000 different ones, and a cache that size held ~100 MB per service
# (NIK and phone together) for little gain (each is seen a few times, within a few batches).
@functools.lru_cache(maxsize=16_384)
def normalize_phone(value: str) -> str:
    """Return the E.164 form of an Indonesian mobile number, or raise PhoneError."""
    if isinstance(value, str) and (m := _EIGHT.fullmatch(_SEPARATORS.sub("", value.strip()))):
        national = m[1]
        key = (national[:_VERDICT_PREFIX], len(national))
        if key not in _verdicts:
            try:
                parse_with_library("+62" + national)
                _verdicts[key] = None
            except PhoneError as exc:
                _verdicts[key] = (str(exc), exc.not_mobile is not None)
        if (verdict := _verdicts[key]) is not None:
            raise PhoneError(verdict[0], "+62" + national if verdict[1] else None)
        return "+62" + national
    return parse_with_library(value)


def parse_with_library(value: str) -> str:
    """libphonenumber's full parse and checks (what normalize_phone's shortcut must agree with)."""
    if not isinstance(value, str) or not value.strip():
        raise PhoneError("phone number is empty")
    raw = _SEPARATORS.sub("", value.strip())
    if raw.startswith("62"):
        raw = "+" + raw
    if not re.fullmatch(r"\+?\d+", raw):
        raise PhoneError("phone number may contain only digits, spaces, dashes and a leading +")
    try:
        number = phonenumbers.parse(raw, "ID")
    except NumberParseException as exc:
        raise PhoneError(f"not a phone number ({exc._msg})")
    if number.country_code != 62:
        raise PhoneError(f"not an Indonesian number (country code +{number.country_code})")
    if not phonenumbers.is_valid_number(number):
        raise PhoneError("not a valid Indonesian number (wrong length or prefix)")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if phonenumbers.number_type(number) not in _MOBILE_TYPES:
        raise PhoneError("not a mobile number: SMS and WhatsApp need a mobile (08…)", not_mobile=e164)
    return e164


class PhoneStatus(StrEnum):
    """Why a contact number that came with a fact cannot be messaged (the fact is kept regardless)."""

    NOT_MOBILE = "NOT_MOBILE"  # a valid Indonesian number that is not a mobile (landline 021…, 0800…): kept
    INVALID = "INVALID"  # not an Indonesian phone number at all (junk, too short, foreign): dropped


@dataclass(frozen=True)
class ContactNumber:
    mobile: str | None = None  # E.164, the only form anything may message
    not_mobile: str | None = None  # E.164 of a landline or similar: kept for people, never messaged
    status: PhoneStatus | None = None  # None: a mobile, or no number at all


def classify_phone(value: object) -> ContactNumber:
    """Sort a contact number from a source without refusing it: a mobile, a kept landline, or junk."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return ContactNumber()
    if not isinstance(value, str):
        return ContactNumber(status=PhoneStatus.INVALID)
    try:
        return ContactNumber(mobile=normalize_phone(value))
    except PhoneError as exc:
        if exc.not_mobile is not None:
            return ContactNumber(not_mobile=exc.not_mobile, status=PhoneStatus.NOT_MOBILE)
        return ContactNumber(status=PhoneStatus.INVALID)


def mask_phone(phone: str) -> str:
    """`+62812*****789`: country and operator prefix, last three digits."""
    if len(phone) < 9:
        return "*" * len(phone)
    return phone[:6] + "*" * (len(phone) - 9) + phone[-3:]


_PHONE_IN_TEXT = re.compile(r"(?<!\d)(\+?62|0)(8\d{2})\d{4,7}(\d{3})(?!\d)")


def mask_phones_in_text(text: str) -> str:
    return _PHONE_IN_TEXT.sub(lambda m: f"{m[1]}{m[2]}*****{m[3]}", text)


Phone = Annotated[str, AfterValidator(normalize_phone), Field(examples=["+6281234567890"])]
