"""Reading a batch's rows from a file, mapping its columns, validating every row.

The web calls, in order::

    table = read_table(upload, filename=upload.name, max_rows=…, max_bytes=…)  # IngestError
    # or table_from_rows(body["rows"], max_rows=…) for the API's JSON rows
    mapping = map_columns(table.headers, version.schema, overrides=…)
    validation = validate_rows(version, table, mapping, language)   # the review page
    figures = estimate(version, validation, configurations)         # the cost range
    rows = iter_valid_rows(version, table, mapping, language)       # create_batch's rows

Nothing here touches the database but through the template version it is given (and
the price table, for ``estimate``): a file is read lazily, a chunk at a time, each pass
from the start of its seekable stream.
"""

from __future__ import annotations

from .errors import IngestError
from .estimate import ConfigurationEstimate, Estimate, estimate
from .json_tables import table_from_rows
from .mapping import Mapping, map_columns
from .reading import FORMATS, read_table
from .tables import Table
from .validation import (
    ERRORS_KEPT,
    RowError,
    Validation,
    errors_csv,
    iter_errors,
    iter_valid_rows,
    validate_rows,
)

__all__ = [
    "ERRORS_KEPT",
    "ConfigurationEstimate",
    "Estimate",
    "FORMATS",
    "IngestError",
    "Mapping",
    "RowError",
    "Table",
    "Validation",
    "errors_csv",
    "estimate",
    "iter_errors",
    "iter_valid_rows",
    "map_columns",
    "read_table",
    "table_from_rows",
    "validate_rows",
]
