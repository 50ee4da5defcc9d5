"""One rule for what a PMID is, used by every reader (efetch, esearch, .nbib, CSV, JSONL, UI).

PubMed identifiers are positive integers written in ASCII digits without a leading zero; today
they have at most 8 digits. ``str.isdigit`` is not enough (it accepts "²" and Arabic-Indic
digits), so the rule is a plain ASCII regular expression.
"""

from __future__ import annotations

import re

from .errors import ParseError

MAX_PMID_DIGITS = 8
PMID_PATTERN = re.compile(rf"[1-9][0-9]{{0,{MAX_PMID_DIGITS - 1}}}", re.ASCII)


def is_pmid(value: object) -> bool:
    """True for a well-formed PMID string (no surrounding space, no sign, no leading zero)."""
    return isinstance(value, str) and PMID_PATTERN.fullmatch(value) is not None


def check_pmid(value: object, where: str) -> str:
    """Return ``value`` if it is a PMID, else raise a `ParseError` naming ``where``."""
    if is_pmid(value):
        return str(value)
    raise ParseError(
        where,
        f"malformed PMID {value!r}: expected 1-{MAX_PMID_DIGITS} ASCII digits, no leading zero",
    )
