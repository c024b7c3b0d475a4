"""Regenerate kemendagri_regions.csv and kemendagri_historic.csv from cahyadsn/wilayah's SQL dumps.

    python -m shared.data.build_regions CURRENT.sql PRE_SPLIT.sql

CURRENT.sql: db/wilayah.sql (Kepmendagri 300.2.2-2430/2025); PRE_SPLIT.sql: db/archive/wilayah_2022.sql
(Permendagri 58/2021, the numbering before the 2022 Papua splits). Both from
https://github.com/cahyadsn/wilayah (read them with `git show <commit>:db/wilayah.sql`). Only the facts
(codes and names) are taken; villages (10-digit codes) are dropped. See README.md for the recorded commit.
"""

from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

HERE = Path(__file__).parent
CURRENT_CSV, HISTORIC_CSV = HERE / "kemendagri_regions.csv", HERE / "kemendagri_historic.csv"
PRE_SPLIT_SOURCE = "Permendagri 58/2021"  # cahyadsn/wilayah db/archive/wilayah_2022.sql

# ('11.01.02','Kluet Utara') with '' for a quote inside the name.
_ROW = re.compile(r"\('([0-9.]+)','((?:[^']|'')*)'\)")

# Kalimantan Utara (65) was formed from Kalimantan Timur by UU 20/2012; NIKs issued before keep 64.xx.
# The 64.xx codes are the five Kalimantan Timur codes the current list leaves unused: 04 Bulungan,
# then 05-08 in the order of UU 47/1999 (Nunukan, Malinau, Kutai Barat, Kutai Timur: 07 and 08 are
# still in the list), 10 Tana Tidung (UU 34/2007), 73 Tarakan. Not machine-checked against the
# Permendagri 66/2011 appendix (no readable copy found): see README.md.
KALTARA_2012 = {
    "6404": "6501",  # Kabupaten Bulungan
    "6405": "6503",  # Kabupaten Nunukan
    "6406": "6502",  # Kabupaten Malinau
    "6410": "6504",  # Kabupaten Tana Tidung
    "6473": "6571",  # Kota Tarakan
}
KALTARA_SOURCE = "UU 20/2012"  # Kalimantan Utara formed; Kalimantan Timur numbering before it


def read_sql(path: Path) -> dict[str, str]:
    """Code (digits only, 2/4/6 long) -> name, for provinces, regencies/cities and districts."""
    rows = _ROW.findall(path.read_text(encoding="utf-8"))
    return {code.replace(".", ""): " ".join(name.replace("''", "'").split()) for code, name in rows if len(code) <= 8}


def _key(name: str) -> tuple[str, str]:
    """(KAB|KOTA, name without spaces or punctuation): 'KAB. FAK FAK' and 'Kabupaten Fak Fak' meet."""
    upper = name.upper()
    kind = "KOTA" if upper.startswith("KOTA") else "KAB"
    rest = re.sub(r"^(KABUPATEN|KAB\.?|KOTA)\s+(ADMINISTRASI\s+|ADM\.\s+)?", "", upper)
    return kind, re.sub(r"[^A-Z]", "", rest)


def historic(
    current: dict[str, str], old: dict[str, str], known: dict[str, str] = KALTARA_2012
) -> list[tuple[str, str, str, str]]:
    """(old code, current code, name, source): regencies renumbered since `old`, matched by name,
    plus the district names under them (the districts were renumbered too, so they keep their own),
    plus the `known` renumberings older than `old`."""
    by_name = {_key(name): code for code, name in current.items() if len(code) == 4}
    rows = []
    for code, name in sorted(old.items()):
        if len(code) != 4 or code in current:
            continue
        now = by_name.get(_key(name))
        if now is None:
            raise SystemExit(f"{code} {name}: no regency of that name in the current list")
        rows.append((code, now, "", PRE_SPLIT_SOURCE))
        rows += [(d, "", n, PRE_SPLIT_SOURCE) for d, n in sorted(old.items()) if len(d) == 6 and d[:4] == code]
    rows += [(code, now, "", KALTARA_SOURCE) for code, now in known.items() if code not in current and now in current]
    return sorted(rows)


def main(current_sql: str, pre_split_sql: str) -> None:
    current, old = read_sql(Path(current_sql)), read_sql(Path(pre_split_sql))
    levels = [sum(len(c) == n for c in current) for n in (2, 4, 6)]
    if levels[:2] != [38, 514]:
        raise SystemExit(f"expected 38 provinces and 514 regencies/cities, got {levels}")
    with CURRENT_CSV.open("w", newline="", encoding="utf-8") as f:
        f.write("# Kemendagri region codes, Kepmendagri 300.2.2-2430/2025, github.com/cahyadsn/wilayah (README.md)\n")
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["code", "name"])
        w.writerows(sorted(current.items()))
    with HISTORIC_CSV.open("w", newline="", encoding="utf-8") as f:
        f.write("# Codes in NIKs issued before a region split, and their current code (README.md)\n")
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["code", "current", "name", "source"])
        w.writerows(historic(current, old))
    print(f"{levels[0]} provinces, {levels[1]} regencies/cities, {levels[2]} districts -> {CURRENT_CSV.name}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
