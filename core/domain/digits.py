"""ASCII digit strings: the one test every numeric text field of paycore passes. Pure.

Python's ``str.isdigit``, ``str.isdecimal``, ``int()`` and ``re``'s ``\\d``
accept every Unicode digit: full-width one (U+FF11), Arabic-Indic one (U+0661),
superscript two (U+00B2)... A card number written in such digits passes a
Luhn check computed with ``int()``, yet never equals the ASCII form that BIN
rules, block lists, card fingerprints and velocity counters compare with
(issue 16: a blocked BIN was paid through this way), and the database's own
checks refuse it later as a server fault. So paycore takes ASCII ``0-9`` only,
and refuses anything else at the edge with a field violation; nothing is
normalised, so one number has exactly one spelling everywhere.
"""

from __future__ import annotations

import unicodedata

ASCII_DIGITS = frozenset("0123456789")


def is_ascii_digits(text: str, min_length: int = 1, max_length: int | None = None) -> bool:
    """Whether ``text`` is ``min_length`` to ``max_length`` characters, each one of 0-9."""
    if len(text) < min_length or (max_length is not None and len(text) > max_length):
        return False
    return all(char in ASCII_DIGITS for char in text)


def first_foreign_digit(text: str) -> str | None:
    """The first character of ``text`` that is a digit or number but not ASCII 0-9, if any.

    Every character Unicode calls a number (categories Nd, Nl and No: what
    ``isdigit``/``isnumeric`` accept) counts, so an error can say what was wrong.
    """
    for char in text:
        if char not in ASCII_DIGITS and unicodedata.category(char) in ("Nd", "Nl", "No"):
            return char
    return None
