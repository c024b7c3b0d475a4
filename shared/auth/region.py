"""Binding a key to a region: a Dinsos office's key sees and acts on its own province or regency only.

Bound by Kemendagri code (the codes NIKs carry: province "36", regency "3674", written "36.74" too);
the registry stores regions by name (shared.regions labels them), so the binding is also named."""

from __future__ import annotations

from shared.regions import PROVINCES, REGENCIES, current_regency_code


def bind_region(province: str | None, regency: str | None) -> tuple[str | None, str | None]:
    """(province code, regency code) of a binding; a regency alone implies its province. ValueError
    for a code Kemendagri's list does not know or a regency outside the given province."""
    province = province.strip() if province else None
    regency = current_regency_code(regency.replace(".", "").strip()) if regency else None
    if province is not None and province not in PROVINCES:
        raise ValueError(f"unknown province code {province!r} (Kemendagri, 2 digits, e.g. 36)")
    if regency is not None:
        if regency not in REGENCIES:
            raise ValueError(f"unknown regency code {regency!r} (Kemendagri, 4 digits, e.g. 36.74)")
        if province is not None and regency[:2] != province:
            raise ValueError(f"regency {regency} is not in province {province}")
        province = regency[:2]
    return province, regency


def region_names(province: str | None, regency: str | None) -> tuple[str | None, str | None]:
    """The names a binding's codes stand for, as the registry stores regions ('Banten', 'Kota Tangerang
    Selatan'); (None, None) for a key bound to no region."""
    return (PROVINCES[province] if province else None, REGENCIES[regency][1] if regency else None)
