"""Facts about SMS text: segment counting and keywords (phone numbers: ``clinic.phones``)."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

# GSM 03.38 basic character set; the extension table costs two septets per character.
_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = set("^{}\\[~]|€\f")

OPT_OUT_KEYWORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "END", "QUIT", "CANCEL", "REVOKE", "OPTOUT"}
)
OPT_IN_KEYWORDS = frozenset({"START", "UNSTOP"})
HELP_KEYWORDS = frozenset({"HELP"})


@dataclass(frozen=True)
class SegmentCount:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int
    per_segment: int


def segment_count(text: str) -> SegmentCount:
    """How many SMS segments ``text`` takes: 160/153 septets in GSM-7, 70/67 units in UCS-2."""
    if all(c in _GSM_BASIC or c in _GSM_EXTENDED for c in text):
        units = sum(2 if c in _GSM_EXTENDED else 1 for c in text)
        single, multi, encoding = 160, 153, "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, multi, encoding = 70, 67, "UCS-2"
    if units == 0:
        return SegmentCount(encoding, 0, 0, single)
    if units <= single:
        return SegmentCount(encoding, units, 1, single)
    return SegmentCount(encoding, units, -(-units // multi), multi)


def keyword_of(body: str) -> str:
    """The keyword an inbound body is, if it is one word (carriers match the whole body).

    Compared after Unicode normalization (NFKC, then casefold): full-width STOP (U+FF33...) from an
    Asian keyboard is STOP, and so is one with a zero-width space pasted in. Punctuation around
    the word ("Stop!", "Quit!!") does not hide it.
    """
    text = unicodedata.normalize("NFKC", body or "")
    # Invisible format characters (zero-width space/joiner, BOM) carry no letters.
    text = "".join(c for c in text if unicodedata.category(c) != "Cf").strip()
    while text and unicodedata.category(text[-1]).startswith("P"):
        text = text[:-1].rstrip()
    while text and unicodedata.category(text[0]).startswith("P"):
        text = text[1:].lstrip()
    word = text.casefold().upper()
    return word if word.isalpha() and len(word) <= 20 else ""
