"""The participant's local time zone, from the NIK's province code (WIB, WITA, WIT)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

WIB = ZoneInfo("Asia/Jakarta")  # UTC+7
WITA = ZoneInfo("Asia/Makassar")  # UTC+8
WIT = ZoneInfo("Asia/Jayapura")  # UTC+9

_RANGES: list[tuple[range, ZoneInfo]] = [
    (range(11, 22), WIB),  # Sumatra and Riau Islands
    (range(31, 37), WIB),  # Java
    (range(61, 63), WIB),  # West and Central Kalimantan
    (range(51, 54), WITA),  # Bali, NTB, NTT
    (range(63, 66), WITA),  # South, East and North Kalimantan
    (range(71, 77), WITA),  # Sulawesi
    (range(81, 83), WIT),  # Maluku
    (range(91, 97), WIT),  # Papua
]


def zone_for_province(province_code: str) -> ZoneInfo:
    code = int(province_code)
    for codes, zone in _RANGES:
        if code in codes:
            return zone
    raise ValueError(f"no time zone known for province code {province_code}")


def zone_for_nik(nik: str) -> ZoneInfo:
    return zone_for_province(nik[:2])


def zone_label(zone: ZoneInfo) -> str:
    return {WIB: "WIB", WITA: "WITA", WIT: "WIT"}.get(zone, str(zone))
