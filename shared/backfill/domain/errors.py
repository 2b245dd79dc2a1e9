"""One exception base with specific subclasses; entry points map them to exit codes and statuses."""


class BackfillError(Exception):
    """Base of every error Backfill raises on purpose."""


class TransientError(BackfillError):
    """A failure that may pass on its own (rate limit, lock, backend hiccup): retry with backoff."""


class DependencyNotReady(TransientError):
    """An upstream processor has not filled this date yet: try again later, never run on missing inputs."""


class PermanentError(BackfillError):
    """A failure that retrying cannot fix (bad source data, access denied): dead-letter at once."""


class InvalidRequest(PermanentError):
    """A request message that cannot be understood: dead-letter at once with the reason."""


class TableNotFound(PermanentError):
    """A configured table does not exist in the warehouse."""


class ConfigurationError(BackfillError):
    """Bad settings or processor configuration: a usage error for the CLI."""
