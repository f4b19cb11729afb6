"""A word diff between two outputs, for the compare matrix.

``word_diff(a, b)`` is a list of (op, text) with op "equal", "delete" (only in ``a``) or
"insert" (only in ``b``); the texts of "equal" and "delete" put together give ``a``, those
of "equal" and "insert" give ``b``, whitespace included, so a page can show either side
or both. difflib compares words (and the spaces between them as their own tokens).

difflib's matching is quadratic in the worst case, and outputs can be long: past
``MAX_TOKENS`` the texts are compared line by line first, and only the changed stretches
small enough are compared word by word (the rest stay whole deletions and insertions).
"""

from __future__ import annotations

import difflib
import re
from typing import Literal

Op = Literal["equal", "delete", "insert"]
TOKEN = re.compile(r"\s+|\w+|[^\w\s]", re.UNICODE)
MAX_TOKENS = 4_000


def _tokens(text: str) -> list[str]:
    return TOKEN.findall(text)


def _merged(pieces: list[tuple[Op, str]]) -> list[tuple[Op, str]]:
    """Neighbours with the same op joined; empty pieces dropped."""
    merged: list[tuple[Op, str]] = []
    for op, text in pieces:
        if not text:
            continue
        if merged and merged[-1][0] == op:
            merged[-1] = (op, merged[-1][1] + text)
        else:
            merged.append((op, text))
    return merged


def _diff(a: list[str], b: list[str]) -> list[tuple[Op, str]]:
    pieces: list[tuple[Op, str]] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, a_start, a_end, b_start, b_end in matcher.get_opcodes():
        if tag == "equal":
            pieces.append(("equal", "".join(a[a_start:a_end])))
            continue
        # A replacement is its deletion, then its insertion.
        pieces.append(("delete", "".join(a[a_start:a_end])))
        pieces.append(("insert", "".join(b[b_start:b_end])))
    return pieces


def word_diff(a: str, b: str) -> list[tuple[Op, str]]:
    a_tokens, b_tokens = _tokens(a), _tokens(b)
    if len(a_tokens) + len(b_tokens) <= MAX_TOKENS:
        return _merged(_diff(a_tokens, b_tokens))
    pieces: list[tuple[Op, str]] = []
    a_lines, b_lines = a.splitlines(keepends=True), b.splitlines(keepends=True)
    matcher = difflib.SequenceMatcher(None, a_lines, b_lines, autojunk=False)
    for tag, a_start, a_end, b_start, b_end in matcher.get_opcodes():
        old, new = "".join(a_lines[a_start:a_end]), "".join(b_lines[b_start:b_end])
        if tag == "equal":
            pieces.append(("equal", old))
            continue
        old_tokens, new_tokens = _tokens(old), _tokens(new)
        if len(old_tokens) + len(new_tokens) <= MAX_TOKENS:
            pieces.extend(_diff(old_tokens, new_tokens))
        else:
            pieces.extend([("delete", old), ("insert", new)])
    return _merged(pieces)
