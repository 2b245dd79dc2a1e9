"""One exception base with specific subclasses; entry points map them to exit codes and statuses.

| error              | worker                 | detector (HTTP) | CLI    |
|--------------------|------------------------|-----------------|--------|
| TransientError     | retried, then dead-lettered with the reason | 500 | exit 1 |
| PermanentError     | dead-lettered at once  | 500             | exit 1 |
| InvalidRequest     | dead-lettered at once  | -               | -      |
| NotReady           | waits like a dependency (503 to Pub/Sub) | 500   | exit 1 |
| BadRequest         | -                      | 400             | -      |
| ConfigurationError | 500 (nothing acknowledged) | 500         | exit 2 |
"""


class BackfillError(Exception):
    """Base of every error Backfill raises on purpose."""


class TransientError(BackfillError):
    """A failure that may pass on its own (rate limit, lock, backend hiccup): retry with backoff."""


class OutOfTime(TransientError):
    """The delivery's deadline passed before a call could finish."""


class PermanentError(BackfillError):
    """A failure that retrying cannot fix (bad source data, access denied): dead-letter at once."""


class BadData(PermanentError):
    """One game's Phase 2 rows cannot be computed: that game is refused, the others are written."""


class InvalidRequest(PermanentError):
    """A request message that cannot be understood: dead-letter at once with the reason."""


class TableNotFound(PermanentError):
    """A configured table does not exist in the warehouse."""


class SchemaMismatch(PermanentError):
    """A table lacks a column Backfill needs, has it with another type, or is not partitioned
    by game_date."""


class MissingColumn(SchemaMismatch):
    """A write named a column the table lacks: a table made by an older version, which adding
    the column (Warehouse.create_table) mends."""


class NotReady(BackfillError):
    """The target cannot be written yet (rows still in BigQuery's streaming buffer): not worth
    retrying within the delivery, so Pub/Sub delivers it again later, as for a dependency."""


class BadRequest(BackfillError):
    """The caller sent something unusable (the detector's request body): their fault, a 400."""


class ConfigurationError(BackfillError):
    """Bad settings or configuration of this deployment: exit 2 for the CLI, 500 for a function."""
