"""The layering the README describes, checked on the source: which modules may import what."""

from __future__ import annotations

import ast
import functools
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "shared" / "backfill"


@functools.cache
def modules() -> dict[str, set[str]]:
    """Every module of the package -> the backfill modules and third-party roots it imports
    (at the top or inside a function)."""
    found: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(("backfill", *path.relative_to(PACKAGE).with_suffix("").parts))
        name = name.removesuffix(".__init__")
        imports: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imports.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                # `from package import module` imports the module (and the package's
                # __init__, which is kept empty for that reason).
                imports.add(node.module)
                imports.update(f"{node.module}.{alias.name}" for alias in node.names)
        found[name] = imports
    return found


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_only_adapters_and_the_local_duckdb_adapter_talk_to_google_cloud_or_duckdb() -> None:
    allowed = {"adapters", "local"}
    for module, imports in modules().items():
        vendors = {i for i in imports if i.startswith(("google.cloud", "google.api_core",
                                                       "google.auth", "duckdb"))}
        if vendors:
            assert layer(module) in allowed, (module, vendors)
            if any(v.startswith("duckdb") for v in vendors):
                assert module == "backfill.local.duckdb_warehouse", module


def test_the_domain_imports_nothing_but_the_domain_and_the_standard_library() -> None:
    for module, imports in modules().items():
        if layer(module) == "domain":
            ours = {i for i in imports if i.startswith("backfill.")}
            assert all(layer(i) == "domain" for i in ours), (module, ours)
            assert not {i for i in imports if i.split(".")[0] in
                        {"google", "duckdb", "click", "rich", "flask", "tenacity"}}, module


def test_the_runtime_never_imports_the_local_part() -> None:
    for module, imports in modules().items():
        if layer(module) != "local":
            local = {i for i in imports if i.startswith("backfill.local")}
            # bootstrap names the DuckDB adapter for duckdb:// URLs only, inside a function.
            if module == "backfill.bootstrap":
                local -= {"backfill.local.duckdb_warehouse",
                          "backfill.local.duckdb_warehouse.DuckDBWarehouse"}
            assert not local, (module, local)


def test_no_module_imports_one_that_imports_it_back() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    known = modules()
    for module, imports in known.items():
        graph[module] = {i for i in imports if i in known and i != module
                         and not (module.startswith(f"{i}.") and not _has_code(i))}
    cycles = []
    for module, targets in graph.items():
        for target in targets:
            if module in _reachable(graph, target):
                cycles.append(tuple(sorted((module, target))))
    assert not sorted(set(cycles)), sorted(set(cycles))


def test_only_bootstrap_builds_pubsub_clients_outside_the_adapters() -> None:
    builders = {m for m, imports in modules().items()
                if any(i.startswith(("backfill.adapters.pubsub_queue",
                                     "backfill.adapters.pubsub_inbox",
                                     "backfill.adapters.pubsub_consumer",
                                     "backfill.adapters.pubsub_topology")) for i in imports)}
    assert {m for m in builders if layer(m) != "adapters"} == {"backfill.bootstrap"}


def _has_code(package: str) -> bool:
    """An __init__ with anything but its docstring (an import of it runs that code)."""
    init = PACKAGE.joinpath(*package.split(".")[1:], "__init__.py")
    body = ast.parse(init.read_text(encoding="utf-8")).body if init.exists() else []
    return any(not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)) for n in body)


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for target in graph.get(todo.pop(), ()):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen
