"""Cells written for spreadsheets: a text that a spreadsheet would run as a formula
(CSV or formula injection) is written so that it shows as typed.

Every download a person opens in a spreadsheet program uses it: batch results and their
error tables, and the usage page's tables.
"""

from __future__ import annotations

from typing import Any

# OWASP's list: a spreadsheet reads a cell starting with one of these as a formula
# (tab and carriage return, because some programs strip them and read what follows).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """A text a spreadsheet would run as a formula, quoted (``'=1+1``) so it shows as
    typed; anything else unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
