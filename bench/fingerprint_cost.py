"""What content fingerprints cost detection: `python -m bench.fingerprint_cost [--smoke]`.

Seeds the five-season league (the bench's own template), then times detection of every processor
over all of it with fingerprints (`current`) and without (bench/detection.py's `without`: the
same scans hashing nothing), alternately, each in a process of its own; and lists per table the
columns each detection's scans read, with the bytes BigQuery would bill for them (its logical
sizes: 8 bytes an INT64, FLOAT64, DATE or TIMESTAMP, 1 a BOOL, 2 plus the UTF-8 length a STRING),
measured on the seeded data. Prints a markdown table for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from datetime import date
from pathlib import Path

import duckdb
from backfill.domain.window import Window
from backfill.ports import Scan
from backfill.processors.base import Processor

from bench.detection import unfingerprinted_registry
from bench.measures import detect_process
from bench.warehouses import BUILTIN, Template, seed_template

FIVE_SEASONS = Window(date(2020, 10, 1), date(2025, 6, 30))
SMOKE = Window(date(2024, 11, 1), date(2024, 11, 20))
_FIXED = {"INT64": 8, "FLOAT64": 8, "DATE": 8, "TIMESTAMP": 8, "BOOL": 1}


def scanned_columns(scan: Scan) -> list[str]:
    """Every column of its table a scan reads."""
    names = ["game_id", "game_date", *(c for _, c in scan.maxima), *(c for _, c in scan.hashed)]
    if scan.count_where:
        names.append(scan.count_where[0])
    if scan.stored_hash:
        names.append(scan.stored_hash)
    return list(dict.fromkeys(scan.column(n) for n in names))


def billed_bytes(path: Path, scan: Scan, types: dict[str, str]) -> int:
    """What BigQuery bills for the columns a scan reads over its window, from the data."""
    sizes = ", ".join(
        f"SUM(CASE WHEN {c} IS NULL THEN 0 ELSE 2 + strlen(CAST({c} AS VARCHAR)) END)"
        if types[c] == "STRING" else f"COUNT(*) * {_FIXED[types[c]]}"
        for c in scanned_columns(scan))
    with duckdb.connect(str(path), read_only=True) as con:
        found = con.execute(
            f"SELECT {sizes} FROM {scan.table.dataset}.{scan.table.table} "  # noqa: S608
            "WHERE game_date BETWEEN $start AND $end",
            {"start": scan.window.start, "end": scan.window.end}).fetchone()
    return int(sum(v or 0 for v in found or ()))


def _types(path: Path, processor: Processor, target: bool) -> dict[str, str]:
    table = processor.target if target else processor.source
    kinds = {"VARCHAR": "STRING", "BIGINT": "INT64", "DOUBLE": "FLOAT64", "BOOLEAN": "BOOL",
             "DATE": "DATE", "TIMESTAMP": "TIMESTAMP"}
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute("SELECT column_name, data_type FROM duckdb_columns() "
                           "WHERE schema_name = $d AND table_name = $t",
                           {"d": table.dataset, "t": table.table}).fetchall()
    return {name: kinds.get(kind, "STRING") for name, kind in rows}


def columns_table(template: Template, window: Window) -> list[str]:
    """Per scanned table: the columns read with and without fingerprints, and the bytes."""
    plain = unfingerprinted_registry()
    lines = ["| table (scan) | columns read with fingerprints | without | bytes with | without "
             "| ratio |", "|---|---|---|---|---|---|"]
    totals = [0, 0]
    for processor in BUILTIN.ordered():
        variant = plain.get(processor.name)
        pairs = [("target", processor.target_scan(window), variant.target_scan(window), True)]
        if not processor.source_is_schedule:
            pairs.insert(0, ("source", processor.source_scan(window),
                             variant.source_scan(window), False))
        for kind, with_scan, without_scan, target in pairs:
            types = _types(template.path, processor, target)
            with_bytes = billed_bytes(template.path, with_scan, types)
            without_bytes = billed_bytes(template.path, without_scan, types)
            totals[0] += with_bytes
            totals[1] += without_bytes
            lines.append(
                f"| {with_scan.table} ({processor.name} {kind}) | "
                f"{len(scanned_columns(with_scan))}: {', '.join(scanned_columns(with_scan))} | "
                f"{len(scanned_columns(without_scan))} | {with_bytes / 1e6:.1f} MB | "
                f"{without_bytes / 1e6:.1f} MB | {with_bytes / max(without_bytes, 1):.1f}x |")
    lines.append(f"| all scans of one detection | | | {totals[0] / 1e6:.1f} MB | "
                 f"{totals[1] / 1e6:.1f} MB | {totals[0] / max(totals[1], 1):.1f}x |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="a few weeks, not five seasons")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--folder", type=Path, default=None)
    args = parser.parse_args()
    folder = args.folder or Path(tempfile.mkdtemp(prefix="bench-fingerprints-"))
    league = SMOKE if args.smoke else FIVE_SEASONS
    template = seed_template(folder, league)
    window = template.window_of(1.0)
    seconds: dict[str, list[float]] = {"current": [], "without": []}
    for _ in range(args.runs):
        for which in seconds:
            seconds[which].append(detect_process(template, folder, window, which).inside)
    with_s, without_s = (statistics.median(seconds[w]) for w in ("current", "without"))
    print(f"detection of {window.start}..{window.end} ({len(template.game_dates)} dates x 4 "
          f"processors), median of {args.runs}: with fingerprints {with_s:.2f} s, without "
          f"{without_s:.2f} s, ratio {with_s / without_s:.2f}x (goal <= 1.3x)")
    print("\n".join(columns_table(template, window)))


if __name__ == "__main__":
    main()
