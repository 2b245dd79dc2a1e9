"""The warehouse port's promises (backfill/ports.py), held the same way by DuckDB and by BigQuery
(the real client against the bqemulator API emulator): the same tests, the same expectations,
never skipped. Where the two differ by nature (DuckDB has no partitions) the test says which."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from backfill.adapters.bigquery_warehouse import BigQueryWarehouse
from backfill.domain.errors import PermanentError, TableNotFound
from backfill.domain.fingerprint import READ_FINGERPRINT
from backfill.domain.tables import TableRef, schema
from backfill.domain.window import Window
from backfill.local.duckdb_warehouse import DuckDBWarehouse
from backfill.ports import Append, Change, Read, Replace, Row, Scan, Warehouse
from backfill.service.retry import retry_policy

TABLE = TableRef("nba_analytics", "contract_rows")
OTHER = TableRef("nba_analytics", "contract_other")
LOG = TableRef("backfill_ops", "contract_log")
COLUMNS = schema(game_id="STRING", game_date="DATE", player="STRING", points="INT64",
                 usage="FLOAT64", starter="BOOL", processed_at="TIMESTAMP")
LOG_COLUMNS = schema(request_id="STRING", game_date="DATE", outcome="STRING",
                     logged_at="TIMESTAMP")
DAY = date(2024, 11, 5)
BEFORE, AFTER = DAY - timedelta(days=1), DAY + timedelta(days=1)
PROCESSED = datetime(2024, 11, 6, 3, 4, 5, 123456, tzinfo=UTC)
# Values an attacker (or an odd upstream feed) could put in a string column or a filter.
HOSTILE = ["O'Neal", 'say "hi"', "back`tick`", "x'; DROP TABLE nba_analytics.contract_rows; --",
           "`; DROP TABLE `nba_analytics`.`contract_rows`; --", "line\nbreak", "Dončić 🏀", "\\'",
           "@start", "$1", "ünïcödé ßtraße 東京"]


def row(game_id: str, day: date = DAY, player: str = "p1", points: int | None = 10) -> Row:
    return {"game_id": game_id, "game_date": day, "player": player, "points": points,
            "usage": 0.1 + points / 1000 if points is not None else None,
            "starter": points is not None and points > 5,
            "processed_at": PROCESSED + timedelta(minutes=points or 0) if points is not None
            else None}


def canonical(rows: list[Row]) -> list[str]:
    return sorted(repr(sorted(r.items())) for r in rows)


def write(warehouse: Warehouse, *changes: Change) -> None:
    """Write the way the worker does: a transient failure (say, a serialization conflict between
    concurrent writers) is retried; anything else fails the test."""
    retry_policy(30, first_wait=0.05)(warehouse.write, list(changes))


def replace(warehouse: Warehouse, rows: list[Row], start: date = DAY, end: date = DAY,
            keep: tuple[str, ...] = ()) -> None:
    write(warehouse, Replace(TABLE, start, end, rows, COLUMNS, keep))


def read(warehouse: Warehouse, start: date = DAY, end: date = DAY, **options: Any) -> list[Row]:
    return warehouse.read_rows(Read(TABLE, start, end, **options))


def partitions(warehouse: Warehouse) -> bool:
    """DuckDB has no partitions; BigQuery partitions what create_table is told to."""
    return not isinstance(warehouse, DuckDBWarehouse)


def on_emulator(warehouse: Warehouse) -> bool:
    return isinstance(warehouse, BigQueryWarehouse)


@pytest.fixture
def table(any_warehouse: Warehouse) -> Warehouse:
    any_warehouse.create_table(TABLE, COLUMNS)
    return any_warehouse


def test_describe_reports_the_columns_in_standard_type_names_and_the_partitioning(
        any_warehouse: Warehouse) -> None:
    any_warehouse.create_table(TABLE, COLUMNS)
    any_warehouse.create_table(LOG, LOG_COLUMNS, partitioned_by="logged_at")
    info = any_warehouse.describe(TABLE)
    assert info is not None
    assert info.columns == {c.name: c.type for c in COLUMNS}
    assert list(info.columns) == [c.name for c in COLUMNS]  # in the table's order
    log = any_warehouse.describe(LOG)
    assert log is not None and log.columns == {c.name: c.type for c in LOG_COLUMNS}
    if partitions(any_warehouse):
        assert (info.partitioned_by, log.partitioned_by) == ("game_date", "logged_at")
    else:
        assert (info.partitioned_by, log.partitioned_by) == (None, None)
    assert any_warehouse.describe(TableRef("nba_analytics", "never_made")) is None
    assert any_warehouse.describe(TableRef("nba_nowhere", "never_made")) is None


def test_creating_again_keeps_the_rows_and_adds_only_the_missing_columns(
        table: Warehouse) -> None:
    replace(table, [row("g1")])
    assert table.describe(TABLE) is not None  # remembered, then forgotten on create
    wider = (*COLUMNS, *schema(source_processed_at="TIMESTAMP", content_version="STRING"))
    table.create_table(TABLE, wider)
    table.create_table(TABLE, wider)  # twice: nothing more to add
    info = table.describe(TABLE)
    assert info is not None and info.columns == {c.name: c.type for c in wider}
    if on_emulator(table):
        # Emulator gap: BigQuery adds columns through tables.patch (the adapter sends the
        # schema with the table's etag, as BigQuery documents) and serves them at once, NULL
        # in the old rows. The emulator's tables.patch changes its metadata only: its storage
        # keeps the old columns, so queries cannot name the new ones there. What it does is
        # asserted, so the day it serves them this test says so.
        assert read(table) == [row("g1")]
        return
    assert read(table) == [{**row("g1"), "source_processed_at": None, "content_version": None}]
    write(table, Replace(TABLE, DAY, DAY, [{**row("g2"), "content_version": "v1"}], wider))
    assert [(r["game_id"], r["content_version"]) for r in read(table)] == [("g2", "v1")]


def test_scans_count_rows_per_game_in_the_window_and_report_the_newest_values(
        table: Warehouse) -> None:
    rows = [row(f"g{d.day}", d, player, points) for d in (BEFORE, DAY, AFTER)
            for player, points in (("p1", 10), ("p2", 20))]
    rows += [row("g5-half", DAY, "p1", 7), row("g5-bench", DAY, "p9", None)]
    replace(table, rows, BEFORE, AFTER)
    scan = Scan(TABLE, Window(DAY, AFTER), maxima=(("version", "player"),))
    assert sorted((g.game_date, g.game_id, g.rows, g.version, g.inputs, g.fingerprint)
                  for g in table.scan_games(scan)) == [
        (DAY, "g5", 2, "p2", None, None), (DAY, "g5-bench", 1, "p9", None, None),
        (DAY, "g5-half", 1, "p1", None, None), (AFTER, "g6", 2, "p2", None, None)]
    # Only rows whose column has one of the values count; a game with none still shows, at 0.
    starters = Scan(TABLE, Window(DAY, DAY), count_where=("player", ("p1", "p2")))
    assert {g.game_id: g.rows for g in table.scan_games(starters)} == {
        "g5": 2, "g5-half": 1, "g5-bench": 0}
    assert table.scan_games(Scan(TABLE, Window(date(2030, 1, 1), date(2030, 1, 2)))) == []


def test_a_scan_reports_the_sanity_facts_of_the_counted_rows(table: Warehouse) -> None:
    """The teams a game's counted rows belong to, and counted rows repeating a unique value
    (domain/sanity.py), here with `game_id` as the team and `player` as the unique column."""
    rows = [row("g1", DAY, "p1", 10), row("g1", DAY, "p1", 12), row("g1", DAY, "p2", 9),
            row("g1", DAY, "p3", None), row("g2", DAY, "p1", 3)]
    replace(table, rows)
    scan = Scan(TABLE, Window(DAY, DAY), count_where=("starter", (True,)), teams="player",
                unique="player")
    assert sorted((g.game_id, g.rows, g.teams, g.repeated) for g in table.scan_games(scan)) == [
        ("g1", 3, frozenset({"p1", "p2"}), 1), ("g2", 0, frozenset(), 0)]
    plain = {g.game_id: (g.teams, g.repeated) for g in table.scan_games(Scan(TABLE, Window(
        DAY, DAY)))}
    assert plain == {"g1": (frozenset(), 0), "g2": (frozenset(), 0)}


def test_scans_read_together_are_each_scan_alone(table: Warehouse) -> None:
    """The worker's re-check scans several tables at once, each with its own window, filter and
    facts: one query (one job on BigQuery), the same answers as each scan alone."""
    table.create_table(OTHER, COLUMNS)
    replace(table, [row("g1", DAY, "p1", 10), row("g1", DAY, "p1", 12), row("g1", DAY, "p2"),
                    row("g2", AFTER, "p2", 3)], DAY, AFTER)
    write(table, Replace(OTHER, BEFORE, DAY, [row("o1", BEFORE), row("o2", DAY, "p2", None)],
                         COLUMNS))
    scans = [Scan(TABLE, Window(DAY, AFTER), count_where=("starter", (True,)), teams="player",
                  unique="player", hashed=(("points", "points"),)),
             Scan(OTHER, Window(BEFORE, DAY), maxima=(("version", "player"),)),
             Scan(TABLE, Window(AFTER, AFTER)),
             Scan(OTHER, Window(AFTER, AFTER)),
             Scan(OTHER, Window(BEFORE, DAY), count_where=("player", ("p2", "p9")))]

    def ordered(stats: list[Any]) -> list[Any]:
        return sorted(stats, key=lambda g: (g.game_date, g.game_id))

    together = [ordered(found) for found in table.scan_together(scans)]
    assert together == [ordered(table.scan_games(scan)) for scan in scans]
    assert [[(g.game_id, g.rows) for g in found] for found in together] == [
        [("g1", 3), ("g2", 0)], [("o1", 1), ("o2", 1)], [("g2", 1)], [], [("o1", 0), ("o2", 1)]]
    assert together[0][0].repeated == 1 and together[1][1].version == "p2"
    assert table.scan_together([]) == []


@pytest.mark.parametrize("missing", [TableRef("nba_analytics", "never_made"),
                                     TableRef("nba_nowhere", "never_made")],
                         ids=["table", "dataset"])
def test_scans_together_name_the_missing_table(table: Warehouse, missing: TableRef) -> None:
    with pytest.raises(TableNotFound, match=str(missing)):
        table.scan_together([Scan(TABLE, Window(DAY, DAY)), Scan(missing, Window(DAY, DAY))])


def test_a_scan_reads_a_table_under_its_own_column_names(any_warehouse: Warehouse) -> None:
    own = TableRef("nba_raw", "own_names")
    columns = schema(gid="STRING", game_date="DATE", made_by="STRING")
    any_warehouse.create_table(own, columns)
    any_warehouse.write([Append(own, [{"gid": "a", "game_date": DAY, "made_by": "v2"},
                                      {"gid": "a", "game_date": DAY, "made_by": None}],
                                columns)])
    names = (("game_id", "gid"), ("version_of", "made_by"))
    scan = Scan(own, Window(DAY, DAY), names=names, maxima=(("version", "version_of"),),
                hashed=(("game_id", "gid"), ("version_of", "made_by")))
    [stat] = any_warehouse.scan_games(scan)
    assert (stat.game_id, stat.game_date, stat.rows, stat.version) == ("a", DAY, 2, "v2")
    # The same fingerprint as a read of the rows under those names hands each row.
    read_back = any_warehouse.read_rows(Read(own, DAY, DAY, columns=(
        ("game_id", "gid"), ("game_date", "game_date"), ("version_of", "made_by")),
        hashed=(("game_id", "gid"), ("version_of", "made_by"))))
    assert {r[READ_FINGERPRINT] for r in read_back} == {stat.fingerprint} != {None}


def test_reads_project_filter_order_and_limit_in_the_query(table: Warehouse) -> None:
    rows = [row(f"g{i}", DAY + timedelta(days=i), player=f"p{i % 2}", points=i)
            for i in range(6)]
    replace(table, rows, DAY, DAY + timedelta(days=5))
    everything = read(table, DAY, DAY + timedelta(days=5))
    assert canonical(everything) == canonical(rows)
    assert canonical(read(table, DAY + timedelta(days=1), DAY + timedelta(days=2))) == \
        canonical(rows[1:3])
    projected = read(table, DAY, DAY + timedelta(days=5),
                     columns=(("id", "game_id"), ("points", "points")))
    assert sorted(r.items() for r in projected) == sorted(
        {"id": r["game_id"], "points": r["points"]}.items() for r in rows)
    assert [r["game_id"] for r in read(table, DAY, DAY + timedelta(days=5),
                                       newest_first=True)] == [f"g{i}" for i in range(5, -1, -1)]
    newest = read(table, DAY, DAY + timedelta(days=5), newest_first=True, limit=2)
    assert [r["game_id"] for r in newest] == ["g5", "g4"]
    assert read(table, DAY, DAY + timedelta(days=5), limit=0) == []
    filtered = read(table, DAY, DAY + timedelta(days=5),
                    equals=(("player", "p1"), ("starter", False), ("game_date",
                                                                    DAY + timedelta(days=3))))
    assert [r["game_id"] for r in filtered] == ["g3"]
    assert [r["game_id"] for r in read(table, DAY, DAY + timedelta(days=5),
                                       equals=(("points", 4),))] == ["g4"]


def test_a_read_by_another_column_than_game_date(any_warehouse: Warehouse) -> None:
    """Audit tables are read by their own partition column (a TIMESTAMP), newest first."""
    any_warehouse.create_table(LOG, LOG_COLUMNS, partitioned_by="logged_at")
    logged = [{"request_id": f"r{i}", "game_date": DAY, "outcome": "succeeded",
               "logged_at": PROCESSED + timedelta(hours=i)} for i in range(4)]
    any_warehouse.write([Append(LOG, logged, LOG_COLUMNS, "logged_at")])
    found = any_warehouse.read_rows(Read(
        LOG, PROCESSED + timedelta(hours=1), PROCESSED + timedelta(hours=3), by="logged_at",
        equals=(("outcome", "succeeded"),), newest_first=True, limit=2))
    assert [r["request_id"] for r in found] == ["r3", "r2"]


def test_replace_is_idempotent_and_changes_only_its_dates(table: Warehouse) -> None:
    around = [row("g4", BEFORE), row("g6", AFTER)]
    replace(table, around, BEFORE, AFTER)
    rows = [row("g5", points=p, player=f"p{p}") for p in (0, 7, 31)] + [row("g5", points=None)]
    for _ in range(3):
        replace(table, rows)
    assert canonical(read(table)) == canonical(rows)
    assert canonical(read(table, BEFORE, AFTER)) == canonical(around + rows)
    replace(table, [row("g5b", player="alone")])  # the date's old rows all go at once
    assert canonical(read(table, BEFORE, AFTER)) == canonical(around + [row("g5b",
                                                                            player="alone")])
    replace(table, [])  # an empty replacement clears the date, and only it
    assert read(table) == []
    assert canonical(read(table, BEFORE, AFTER)) == canonical(around)


def test_replace_leaves_the_kept_games_as_they_were(table: Warehouse) -> None:
    old = [row("g1", player="old"), row("g2", player="old"), row("g2", player="old2"),
           row("g3", player="old")]
    replace(table, old)
    new = [row("g1", player="new"), row("g4", player="new")]
    for _ in range(2):
        replace(table, new, keep=("g2",))
    assert canonical(read(table)) == canonical(new + old[1:3])
    replace(table, [], keep=("g2", "g4"))
    assert canonical(read(table)) == canonical(old[1:3] + [row("g4", player="new")])
    with pytest.raises(PermanentError, match="kept game"):
        Replace(TABLE, DAY, DAY, [row("g2")], COLUMNS, keep=("g2",))


def test_rows_outside_the_replaced_dates_are_refused_before_anything_is_sent(
        table: Warehouse) -> None:
    with pytest.raises(PermanentError, match="falls outside"):
        Replace(TABLE, DAY, DAY, [row("g1", AFTER)], COLUMNS)
    assert read(table, BEFORE, AFTER) == []


def test_concurrent_replaces_of_one_date_leave_exactly_one_version(table: Warehouse) -> None:
    """Eight writers, four versions, one date. BigQuery may fail all but one of two MERGEs on a
    partition ("Could not serialize access ... due to concurrent update"), which is transient
    and retried here as the worker does. Emulator gap: the emulator runs every DML statement
    under one lock, so it never reports that conflict (tests/unit/test_bigquery_errors.py
    classifies BigQuery's own); DuckDB serialises a process's writes itself."""
    versions = [[row(f"g{v}", player=f"p{i}", points=v * 10 + i) for i in range(v + 2)]
                for v in range(4)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda rows: replace(table, rows), versions * 2))
    stored = canonical(read(table))
    assert stored in [canonical(v) for v in versions]  # never a mix, never twice


def test_one_write_applies_every_change_it_is_given(table: Warehouse) -> None:
    table.create_table(OTHER, COLUMNS)
    table.create_table(LOG, LOG_COLUMNS, partitioned_by="logged_at")
    replace(table, [row("stale")])
    audit = {"request_id": "r1", "game_date": DAY, "outcome": "succeeded",
             "logged_at": PROCESSED}
    write(table, Replace(TABLE, DAY, DAY, [row("g1")], COLUMNS),
          Replace(OTHER, DAY, DAY, [row("o1"), row("o2")], COLUMNS),
          Append(LOG, [audit], LOG_COLUMNS, "logged_at"))
    assert [r["game_id"] for r in read(table)] == ["g1"]
    assert sorted(r["game_id"] for r in table.read_rows(Read(OTHER, DAY, DAY))) == ["o1", "o2"]
    assert table.read_rows(Read(LOG, PROCESSED, PROCESSED, by="logged_at")) == [audit]


def test_appends_add_their_rows_every_time(table: Warehouse) -> None:
    batch = [row(f"audit{i}", player=HOSTILE[i]) for i in range(3)]
    write(table, Append(TABLE, batch, COLUMNS))
    write(table, Append(TABLE, batch[:1], COLUMNS))
    write(table, Append(TABLE, [], COLUMNS))
    assert canonical(read(table)) == canonical(batch + batch[:1])


def test_hostile_strings_are_only_ever_values(table: Warehouse) -> None:
    rows = [row(value, player=value) for value in HOSTILE]
    replace(table, rows)
    assert canonical(read(table)) == canonical(rows)
    for value in HOSTILE:
        assert read(table, equals=(("player", value),)) == [row(value, player=value)]
    scan = Scan(TABLE, Window(DAY, DAY), count_where=("player", tuple(HOSTILE[:4])))
    assert {g.game_id: g.rows for g in table.scan_games(scan)} == {
        value: int(value in HOSTILE[:4]) for value in HOSTILE}
    replace(table, [row("plain")], keep=tuple(HOSTILE[:3]))
    assert canonical(read(table)) == canonical(rows[:3] + [row("plain")])
    write(table, Append(TABLE, rows, COLUMNS))
    assert len(read(table)) == 4 + len(HOSTILE)  # and the table is still there


def test_timestamps_come_back_aware_in_utc_whatever_zone_they_went_in(
        table: Warehouse) -> None:
    ist = timezone(timedelta(hours=5, minutes=30))
    moments = {"utc": PROCESSED, "ist": PROCESSED.astimezone(ist),
               "naive": PROCESSED.replace(tzinfo=None)}  # a naive timestamp is UTC
    rows = [{**row(name), "processed_at": when} for name, when in moments.items()]
    replace(table, rows[:2])
    write(table, Append(TABLE, rows[2:], COLUMNS))
    for found in read(table):
        assert found["processed_at"] == PROCESSED
        assert found["processed_at"].utcoffset() == timedelta(0), found


def test_nulls_of_every_type_round_trip(table: Warehouse) -> None:
    empty = {c.name: None for c in COLUMNS} | {"game_id": "g0", "game_date": DAY}
    replace(table, [empty])
    write(table, Append(TABLE, [{**empty, "game_id": "g1"}], COLUMNS))
    assert canonical(read(table)) == canonical([empty, {**empty, "game_id": "g1"}])


@pytest.mark.parametrize("missing", [TableRef("nba_analytics", "never_made"),
                                     TableRef("nba_nowhere", "never_made")],
                         ids=["table", "dataset"])
def test_a_missing_table_is_table_not_found_naming_it(table: Warehouse,
                                                      missing: TableRef) -> None:
    """The dataset exists (nba_analytics) or does not (nba_nowhere): the same error."""
    with pytest.raises(TableNotFound, match=str(missing)):
        table.scan_games(Scan(missing, Window(DAY, DAY)))
    with pytest.raises(TableNotFound, match=str(missing)):
        table.read_rows(Read(missing, DAY, DAY))
    # A write says TableNotFound too (what creates a table on first use relies on), in the
    # warehouse's own words (DuckDB's do not name the schema).
    with pytest.raises(TableNotFound, match=missing.table):
        table.write([Replace(missing, DAY, DAY, [row("g1")], COLUMNS)])
    with pytest.raises(TableNotFound, match=missing.table):
        table.write([Append(missing, [row("g1")], COLUMNS)])


def test_writing_a_column_the_table_lacks_is_permanent_and_changes_nothing(
        table: Warehouse) -> None:
    replace(table, [row("g1")])
    wider = (*COLUMNS, *schema(not_a_column="STRING"))
    with pytest.raises(PermanentError) as failed:
        table.write([Replace(TABLE, DAY, DAY, [{**row("g2"), "not_a_column": "x"}], wider)])
    # The table is there: not TableNotFound. DuckDB says MissingColumn, which a local
    # warehouse's ledger.append mends by adding the column; on BigQuery Terraform owns the
    # schemas of the tables Backfill appends to, so there it stays a plain PermanentError.
    assert not isinstance(failed.value, TableNotFound)
    assert [r["game_id"] for r in read(table)] == ["g1"]


# -- content fingerprints and row hashes, made by the warehouse ---------------------------------

CONTENT = tuple((c.name, c.name) for c in COLUMNS if c.name != "processed_at")
HASHED = TableRef("nba_analytics", "contract_hashed")
HASHED_COLUMNS = (*COLUMNS, *schema(row_hash="STRING"))


def fingerprints(warehouse: Warehouse, table: TableRef = TABLE) -> dict[str, str | None]:
    return {g.game_id: g.fingerprint for g in warehouse.scan_games(
        Scan(table, Window(BEFORE, AFTER), hashed=CONTENT))}


def test_a_fingerprint_is_of_the_content_whatever_the_order_or_load_time(
        table: Warehouse) -> None:
    rows = [row("g1", player=f"p{i}", points=i) for i in range(1, 6)] + [row("g2")]
    replace(table, rows)
    first = fingerprints(table)
    assert set(first) == {"g1", "g2"} and first["g1"] != first["g2"]
    # Reloaded in another order, every row's load time moved: nothing changed.
    later = [{**r, "processed_at": PROCESSED + timedelta(days=3)} for r in reversed(rows)]
    replace(table, later)
    assert fingerprints(table) == first
    # A duplicated row, a deleted row, a changed value: each a change of that game only.
    write(table, Append(TABLE, [rows[0]], COLUMNS))
    doubled = fingerprints(table)
    assert doubled["g1"] != first["g1"] and doubled["g2"] == first["g2"]
    replace(table, rows[1:])
    assert fingerprints(table)["g1"] not in (first["g1"], doubled["g1"])
    replace(table, [{**rows[0], "points": 99}, *rows[1:]])
    assert fingerprints(table)["g1"] != first["g1"]
    # Corrected back to the old value: the old fingerprint.
    replace(table, rows)
    assert fingerprints(table) == first
    # A NULL is a value like any other.
    replace(table, [{**rows[0], "usage": None}, *rows[1:]])
    assert fingerprints(table)["g1"] != first["g1"]


def test_a_read_hands_each_row_the_fingerprint_the_scan_reports(table: Warehouse) -> None:
    replace(table, [row("g1", player=f"p{i}", points=i) for i in range(1, 4)] + [row("g2")])
    columns = tuple((c.name, c.name) for c in COLUMNS)
    rows = table.read_rows(Read(TABLE, DAY, DAY, columns=columns, hashed=CONTENT))
    assert len(rows) == 4 and all(set(r) == {*dict(columns), READ_FINGERPRINT} for r in rows)
    assert {r["game_id"]: r[READ_FINGERPRINT] for r in rows} == fingerprints(table)


def test_the_write_hashes_each_row_and_the_scan_finds_edits_and_duplicates(
        any_warehouse: Warehouse) -> None:
    any_warehouse.create_table(HASHED, HASHED_COLUMNS)
    own = tuple(c.name for c in COLUMNS)

    def hashed_write(rows: list[Row], keep: tuple[str, ...] = ()) -> None:
        write(any_warehouse, Replace(HASHED, DAY, DAY, rows, HASHED_COLUMNS, keep,
                                     hash_into="row_hash", hashed=own))

    def tampered() -> dict[str, int]:
        return {g.game_id: g.tampered for g in any_warehouse.scan_games(Scan(
            HASHED, Window(DAY, DAY), hashed=tuple((n, n) for n in own),
            stored_hash="row_hash"))}

    rows = [row("g1", player=f"p{i}", points=i) for i in range(1, 4)] + [row("g2")]
    hashed_write(rows)
    stored = any_warehouse.read_rows(Read(HASHED, DAY, DAY))
    assert all(r["row_hash"] for r in stored) and len({r["row_hash"] for r in stored}) == 4
    assert tampered() == {"g1": 0, "g2": 0}  # the write's hash is the scan's
    # A hand edit that leaves the recorded hash: that row no longer matches.
    edited = [{**r, "points": 50} if r["player"] == "p2" else r for r in stored]
    write(any_warehouse, Replace(HASHED, DAY, DAY, edited, HASHED_COLUMNS))
    assert tampered() == {"g1": 1, "g2": 0}
    # A duplicated row matches its hash, and repeats another.
    write(any_warehouse, Replace(HASHED, DAY, DAY, stored, HASHED_COLUMNS))
    write(any_warehouse, Append(HASHED, [stored[-1]], HASHED_COLUMNS))
    assert tampered() == {"g1": 0, "g2": 1}
    # A rewrite keeping g2 hashes only the rows it writes: g2 stays as it was found.
    hashed_write(rows[:3], keep=("g2",))
    assert tampered() == {"g1": 0, "g2": 1}
