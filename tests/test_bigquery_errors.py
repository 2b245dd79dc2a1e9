"""BigQuery's errors in the product's classes: real failures where they can be provoked (an
unreachable endpoint), and the documented error reasons that cannot be, as a lookup table."""

from __future__ import annotations

import time
from datetime import date

import pytest
from backfill.adapters.bigquery_warehouse import BigQueryWarehouse, classify
from backfill.domain.errors import BackfillError, PermanentError, TableNotFound, TransientError
from backfill.domain.tables import TableRef
from backfill.local.stack import free_port
from google.api_core import exceptions

TABLE = TableRef("nba_raw", "nbac_schedule")


def error(kind: type[exceptions.GoogleAPICallError], reason: str, message: str) -> Exception:
    return kind(message, errors=[{"reason": reason, "message": message}])


@pytest.mark.parametrize(("raised", "expected"), [
    (error(exceptions.NotFound, "notFound",
           "Not found: Table p:nba_raw.nbac_schedule was not found in location US"), TableNotFound),
    (error(exceptions.Forbidden, "rateLimitExceeded", "Exceeded rate limits"), TransientError),
    (error(exceptions.BadRequest, "backendError", "Backend error"), TransientError),
    (error(exceptions.InternalServerError, "internalError", "Internal error"), TransientError),
    (error(exceptions.ServiceUnavailable, "backendError", "Unavailable"), TransientError),
    (exceptions.BadGateway("gateway"), TransientError),
    (exceptions.TooManyRequests("slow down"), TransientError),
    (error(exceptions.BadRequest, "invalidQuery", "Could not serialize access to table "
           "p:nba_analytics.t due to concurrent update"), TransientError),
    (error(exceptions.BadRequest, "invalidQuery", "Unrecognized name: nope"), PermanentError),
    (error(exceptions.Forbidden, "accessDenied", "Access Denied: Table p:nba_raw.x"),
     PermanentError),
    (exceptions.Conflict("Already Exists"), PermanentError),
])
def test_bigquery_errors_map_to_the_product_classes(raised: exceptions.GoogleAPICallError,
                                                    expected: type[BackfillError]) -> None:
    mapped = classify(raised, TABLE)
    assert type(mapped) is expected
    assert str(TABLE) in str(mapped)


def test_a_missing_dataset_keeps_bigquerys_text_and_names_the_table() -> None:
    mapped = classify(error(exceptions.NotFound, "notFound",
                            "Not found: Dataset p:nba_raw was not found in location US"), TABLE)
    assert str(mapped) == ("nba_raw.nbac_schedule: "
                           "Not found: Dataset p:nba_raw was not found in location US")


def test_an_unreachable_bigquery_is_transient_and_gives_up_within_its_deadline(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", f"127.0.0.1:{free_port()}")  # nothing listens
    warehouse = BigQueryWarehouse("unreachable", deadline_seconds=2.0)
    started = time.monotonic()
    with pytest.raises(TransientError):
        warehouse.read_rows(TABLE, date(2024, 11, 1), date(2024, 11, 1))
    assert time.monotonic() - started < 10
