"""The one error a file that can't be read raises."""

from __future__ import annotations

from collections.abc import Sequence


class IngestError(ValueError):
    """A file that can't be taken as it is, with a translated message for the person.

    ``code`` says what is wrong, for callers that answer differently (``choose_sheet``:
    ask which of ``choices`` to read); ``row`` and ``column`` say where, when one place
    is to blame. Nothing has been created when it is raised: reading comes first."""

    def __init__(
        self,
        message: str,
        *,
        code: str,
        row: int | None = None,
        column: str | None = None,
        choices: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.row = row
        self.column = column
        self.choices = list(choices)
