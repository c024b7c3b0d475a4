"""Words for codes, in Bahasa Indonesia: one table for the message templates and the answers to citizens."""

from __future__ import annotations

REASON_TEXT = {
    "DESIL_ABOVE_5": "desil di atas 5",
    "NIK_CONFLICT": "NIK ganda",
    "DECEASED": "tercatat meninggal",
    "NO_BIOMETRIC": "belum rekam biometrik",
    "ADMINDUK_OFFLINE": "data adminduk tidak terbaca",
    "NO_ID_SEMESTA": "belum ada ID Semesta",
    "OTHER": "alasan lain",
    "NIK_INVALID": "NIK tidak valid",
    "NOT_DEACTIVATED": "tidak ada di daftar nonaktif",
    "ALREADY_ACTIVE": "sudah aktif",
    "WINDOW_EXPIRED": "lewat 6 bulan",
    "DESIL_UNKNOWN": "menunggu perankingan desil",
    "BIOMETRIC_MISSING": "belum rekam biometrik",
    "DOCUMENT_MISSING": "dokumen kurang",
    "FACILITY_UNKNOWN": "faskes tidak terdaftar",
    "NEW_DEACTIVATION": "ada penonaktifan baru",
}
