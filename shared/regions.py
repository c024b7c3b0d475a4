"""Province and regency codes that python-stdnum 2.2's region list lacks.

stdnum's list predates Kalimantan Utara (65, formed 2012) and the Papua provinces of 2022.
Codes follow the Kemendagri numbering (Kepmendagri 100.1.1-6117/2022); old NIKs keep the
code of the province that issued them, so stdnum's 91 and 94 stay valid alongside these.
"""

from __future__ import annotations

EXTRA_PROVINCES: dict[str, tuple[str, dict[str, str]]] = {
    "65": (
        "Kalimantan Utara",
        {"01": "MALINAU", "02": "BULUNGAN", "03": "TANA TIDUNG", "04": "NUNUKAN", "71": "TARAKAN"},
    ),
    "92": (
        "Papua Barat",
        {
            "01": "FAKFAK",
            "02": "KAIMANA",
            "03": "TELUK WONDAMA",
            "04": "TELUK BINTUNI",
            "05": "MANOKWARI",
            "06": "MANOKWARI SELATAN",
            "07": "PEGUNUNGAN ARFAK",
        },
    ),
    "93": ("Papua Selatan", {"01": "MERAUKE", "02": "BOVEN DIGOEL", "03": "MAPPI", "04": "ASMAT"}),
    "95": (
        "Papua Pegunungan",
        {
            "01": "JAYAWIJAYA",
            "02": "PEGUNUNGAN BINTANG",
            "03": "YAHUKIMO",
            "04": "TOLIKARA",
            "05": "MAMBERAMO TENGAH",
            "06": "YALIMO",
            "07": "LANNY JAYA",
            "08": "NDUGA",
        },
    ),
    "96": (
        "Papua Barat Daya",
        {"01": "SORONG", "02": "SORONG SELATAN", "03": "RAJA AMPAT", "04": "TAMBRAUW", "05": "MAYBRAT", "71": "SORONG"},
    ),
}
# Regencies of the 2022 Papua Tengah numbering (94) missing from stdnum's old Papua (94) list.
EXTRA_REGENCIES: dict[str, dict[str, str]] = {
    "94": {
        "05": "PUNCAK",
        "06": "DOGIYAI",
        "07": "INTAN JAYA",
        "21": "PUNCAK",
        "22": "INTAN JAYA",
        "23": "DEIYAI",
        "24": "DOGIYAI",
        "25": "LANNY JAYA",
    },
}
