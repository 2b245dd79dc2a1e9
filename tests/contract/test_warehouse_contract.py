"""The warehouse port's contract, held by DuckDB and by BigQuery (through the real client against
the bqemulator API emulator): the same tests, the same expectations, never skipped."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime

import pytest
from backfill.bootstrap import registry_from_file
from backfill.domain.errors import PermanentError, TableNotFound
from backfill.domain.tables import TableRef, schema
from backfill.domain.window import Window
from backfill.local.seed import generate_phase2
from backfill.local.seeding import seed
from backfill.ports import GameScan, Row, Warehouse
from backfill.service.gaps import processor_gaps
from backfill.service.retry import retry_policy

REGISTRY = registry_from_file(None)
TABLE = TableRef("nba_analytics", "contract_rows")
COLUMNS = schema(game_id="STRING", game_date="DATE", player="STRING", points="INT64",
                 usage="FLOAT64", starter="BOOL", processed_at="TIMESTAMP")
DAY = date(2024, 11, 5)
PROCESSED = datetime(2024, 11, 6, 3, 4, 5, 123456, tzinfo=UTC)
# Values an attacker (or an odd upstream feed) could put in a string column or a filter.
HOSTILE = ["O'Neal", 'say "hi"', "back`tick`", "x'; DROP TABLE nba_analytics.contract_rows; --",
           "`; DROP TABLE `nba_analytics`.`contract_rows`; --", "line\nbreak", "Dončić 🏀", "\\'"]


def row(game_id: str, day: date = DAY, player: str = "p1", points: int | None = 10) -> Row:
    return {"game_id": game_id, "game_date": day, "player": player, "points": points,
            "usage": 0.1 + points / 1000 if points is not None else None,
            "starter": points is not None and points > 5,
            "processed_at": PROCESSED if points is not None else None}


def canonical(rows: list[Row]) -> list[str]:
    return sorted(repr(sorted(r.items())) for r in rows)


def write(warehouse: Warehouse, start: date, end: date, rows: list[Row]) -> int:
    """Replace a range the way the worker does: transient failures (say, a serialization
    conflict between concurrent writers) are retried; anything else fails the test."""
    return retry_policy(30, first_wait=0.05)(warehouse.replace_range, TABLE, start, end, rows,
                                             COLUMNS)


@pytest.fixture
def table(any_warehouse: Warehouse) -> Warehouse:
    any_warehouse.create_table(TABLE, COLUMNS)
    return any_warehouse


def test_detection_on_seeded_data_counts_every_game_and_finds_exactly_what_was_removed(
        any_warehouse: Warehouse) -> None:
    window = Window(date(2024, 11, 1), date(2024, 11, 2))
    seed(any_warehouse, REGISTRY, window)
    phase2 = generate_phase2(window.start, window.end)
    for processor in REGISTRY.ordered():
        scan = processor.source_scan(window)
        column, allowed = scan.count_where or ("game_id", None)
        expected = Counter({(r["game_date"], r["game_id"]): 0 for r in phase2[processor.source]})
        expected.update((r["game_date"], r["game_id"]) for r in phase2[processor.source]
                        if allowed is None or r[column] in allowed)
        scanned = any_warehouse.scan_games(scan)
        assert {(g.game_date, g.game_id): g.rows for g in scanned} == expected
        assert processor_gaps(any_warehouse, processor, window).candidates == []

    target = REGISTRY.get("player_game_summary")
    kept = any_warehouse.read_rows(target.target, date(2024, 11, 2), date(2024, 11, 2))
    removed = sorted({r["game_id"] for r in kept})[:2]
    any_warehouse.replace_range(target.target, date(2024, 11, 2), date(2024, 11, 2),
                                [r for r in kept if r["game_id"] not in removed], target.schema)
    [candidate] = processor_gaps(any_warehouse, target, window).candidates
    assert (candidate.game_date, list(candidate.game_ids)) == (date(2024, 11, 2), removed)


@pytest.mark.parametrize("missing", [TableRef("nba_analytics", "never_loaded"),
                                     TableRef("nba_nowhere", "never_loaded")],
                         ids=["table", "dataset"])
def test_a_missing_table_or_dataset_is_table_not_found_naming_the_table(
        any_warehouse: Warehouse, missing: TableRef) -> None:
    any_warehouse.create_table(TABLE, COLUMNS)  # nba_analytics exists, nba_nowhere does not
    with pytest.raises(TableNotFound, match=str(missing)):
        any_warehouse.scan_games(GameScan(missing, Window(DAY, DAY)))
    with pytest.raises(TableNotFound, match=str(missing)):
        any_warehouse.read_rows(missing, DAY, DAY)


def test_scans_and_reads_cover_only_the_window_and_count_partial_games(table: Warehouse) -> None:
    days = [date(2024, 11, 4), DAY, date(2024, 11, 6)]
    rows = [row(f"g{d.day}", d, player) for d in days for player in ("p1", "p2")]
    rows.append(row("g5-half", DAY))  # a game with one of its two rows
    write(table, days[0], days[-1], rows)

    scanned = table.scan_games(GameScan(TABLE, Window(DAY, days[-1]), "processed_at"))
    assert sorted((g.game_date, g.game_id, g.rows, g.processed_at) for g in scanned) == [
        (DAY, "g5", 2, PROCESSED), (DAY, "g5-half", 1, PROCESSED),
        (days[2], "g6", 2, PROCESSED)]
    assert canonical(table.read_rows(TABLE, DAY, DAY)) == canonical(
        [r for r in rows if r["game_date"] == DAY])

    write(table, DAY, DAY, [row("g5", DAY, "p9", 30)])  # the dates around it stay as they were
    assert canonical(table.read_rows(TABLE, days[0], days[-1])) == canonical(
        [r for r in rows if r["game_date"] != DAY] + [row("g5", DAY, "p9", 30)])


def test_replace_is_idempotent_and_values_come_back_identical(table: Warehouse) -> None:
    rows = [row("g1", points=p, player=f"p{p}") for p in (0, 7, 31)] + [row("g1", points=None)]
    for _ in range(3):
        assert write(table, DAY, DAY, rows) == len(rows)
    assert canonical(table.read_rows(TABLE, DAY, DAY)) == canonical(rows)


def test_concurrent_replaces_of_one_date_leave_one_whole_version(table: Warehouse) -> None:
    versions = [[row(f"g{v}", player=f"p{i}", points=v * 10 + i) for i in range(v + 2)]
                for v in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda rows: write(table, DAY, DAY, rows), versions * 2))
    stored = canonical(table.read_rows(TABLE, DAY, DAY))
    assert stored in [canonical(v) for v in versions]  # never a mix, never duplicated


def test_hostile_strings_are_only_ever_values(table: Warehouse) -> None:
    rows = [row(value, player=value) for value in HOSTILE]
    write(table, DAY, DAY, rows)
    assert canonical(table.read_rows(TABLE, DAY, DAY)) == canonical(rows)
    scan = GameScan(TABLE, Window(DAY, DAY), count_where=("player", tuple(HOSTILE[:4])))
    assert {g.game_id: g.rows for g in table.scan_games(scan)} == {
        value: int(value in HOSTILE[:4]) for value in HOSTILE}
    assert len(table.read_rows(TABLE, DAY, DAY)) == len(HOSTILE)  # the table is still there


def test_empty_windows_read_nothing_and_an_empty_replace_clears_only_its_range(
        table: Warehouse) -> None:
    assert table.scan_games(GameScan(TABLE, Window(DAY, DAY))) == []
    assert table.read_rows(TABLE, DAY, DAY) == []
    write(table, DAY, date(2024, 11, 6), [row("g5"), row("g6", date(2024, 11, 6))])
    assert write(table, DAY, DAY, []) == 0
    assert table.read_rows(TABLE, DAY, DAY) == []
    assert [r["game_id"] for r in table.read_rows(TABLE, DAY, date(2024, 11, 6))] == ["g6"]


def test_rows_outside_the_replaced_range_are_refused(table: Warehouse) -> None:
    with pytest.raises(PermanentError, match="game_date"):
        table.replace_range(TABLE, DAY, DAY, [row("g1", date(2024, 11, 6))], COLUMNS)
    assert table.read_rows(TABLE, DAY, date(2024, 11, 6)) == []


def test_load_rows_appends_a_batch(table: Warehouse) -> None:
    batch = [row(f"audit{i}", player=HOSTILE[i]) for i in range(3)]
    assert table.load_rows(TABLE, batch, COLUMNS) == 3
    assert table.load_rows(TABLE, batch[:1], COLUMNS) == 1
    assert canonical(table.read_rows(TABLE, DAY, DAY)) == canonical(batch + batch[:1])


def test_drop_table_removes_it_and_tolerates_its_absence(table: Warehouse) -> None:
    table.drop_table(TABLE)
    table.drop_table(TABLE)
    with pytest.raises(TableNotFound):
        table.read_rows(TABLE, DAY, DAY)


def test_writing_a_column_the_table_lacks_is_permanent_and_changes_nothing(
        table: Warehouse) -> None:
    write(table, DAY, DAY, [row("g1")])
    wider = (*COLUMNS, *schema(not_a_column="STRING"))
    with pytest.raises(PermanentError) as failed:
        table.replace_range(TABLE, DAY, DAY, [{**row("g2"), "not_a_column": "x"}], wider)
    assert failed.type is PermanentError  # the table is there: not TableNotFound
    assert [r["game_id"] for r in table.read_rows(TABLE, DAY, DAY)] == ["g1"]
