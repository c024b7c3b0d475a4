"""Indonesian mobile numbers: accept 08…, 628…, +628…; store E.164 (+628…); mask for logs."""

from __future__ import annotations

import functools
import re
from typing import Annotated

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType
from pydantic import AfterValidator, Field


class PhoneError(ValueError):
    """A phone number that is not an Indonesian mobile number; the message says why."""


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
_verdicts: dict[tuple[str, int], str | None] = {}  # None: a valid mobile; else PhoneError's message


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
                _verdicts[key] = str(exc)
        if (error := _verdicts[key]) is not None:
            raise PhoneError(error)
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
    if phonenumbers.number_type(number) not in _MOBILE_TYPES:
        raise PhoneError("not a mobile number: SMS and WhatsApp need a mobile (08…)")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def mask_phone(phone: str) -> str:
    """`+62812*****789`: country and operator prefix, last three digits."""
    if len(phone) < 9:
        return "*" * len(phone)
    return phone[:6] + "*" * (len(phone) - 9) + phone[-3:]


_PHONE_IN_TEXT = re.compile(r"(?<!\d)(\+?62|0)(8\d{2})\d{4,7}(\d{3})(?!\d)")


def mask_phones_in_text(text: str) -> str:
    return _PHONE_IN_TEXT.sub(lambda m: f"{m[1]}{m[2]}*****{m[3]}", text)


Phone = Annotated[str, AfterValidator(normalize_phone), Field(examples=["+6281234567890"])]
