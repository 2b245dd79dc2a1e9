"""Build the Cloud Functions source archives: one folder and one zip per function.

Each function folder gets its `main.py` (and any sibling files), a copy of the `backfill`
package next to it without `backfill/local/` (the CLI, DuckDB, the demo, seeding and the local
stack are never deployed), and as `requirements.txt` a copy of terraform/requirements.lock:
the runtime dependencies of pyproject.toml and everything they pull in, pinned with hashes
(`make lock` regenerates it). A lock that misses a runtime dependency is refused, so a deploy
never resolves versions of its own. The zips are deterministic (sorted entries, fixed
timestamps), so Terraform's content hash changes only when the code or the lock does.

Usage: python terraform/package.py [--root REPO] [--out BUILD_DIR] [NAME ...]
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tomllib
import zipfile
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ("detector", "worker")
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
LOCK = Path("terraform") / "requirements.lock"
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", ".mypy_cache", ".pytest_cache")
# Subpackages of backfill that stay out of the functions: the local tooling and what it needs
# (click, duckdb, rich) are in pyproject's `local` extra, not in the lock.
LOCAL_ONLY = ("local",)
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", re.MULTILINE)


def canonical(name: str) -> str:
    """A distribution name as PEP 503 compares them: Foo_Bar and foo-bar are the same."""
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_dependencies(pyproject: Path) -> list[str]:
    """The [project].dependencies of pyproject.toml, in order."""
    with pyproject.open("rb") as f:
        return list(tomllib.load(f)["project"]["dependencies"])


def locked_requirements(root: Path) -> str:
    """The lock's text, once it is known to pin every runtime dependency of pyproject.toml."""
    lock = root / LOCK
    if not lock.is_file():
        raise SystemExit(f"package: {lock} not found (run `make lock`)")
    text = lock.read_text(encoding="utf-8")
    pinned = {canonical(name) for name in _PIN.findall(text)}
    wanted = [d for d in runtime_dependencies(root / "pyproject.toml")
              if (m := _NAME.match(d)) and canonical(m.group(1)) not in pinned]
    if wanted:
        raise SystemExit(f"package: {lock} does not pin {', '.join(wanted)} (run `make lock`)")
    return text


def _ignore_local(package: Path) -> Callable[[str, list[str]], set[str]]:
    """copytree's ignore: the usual clutter everywhere, LOCAL_ONLY at the package's top."""

    def ignore(directory: str, names: list[str]) -> set[str]:
        ignored = set(IGNORED(directory, names))
        if Path(directory).resolve() == package.resolve():
            ignored |= {n for n in names if n in LOCAL_ONLY}
        return ignored

    return ignore


def build_folder(root: Path, name: str, dest: Path, requirements: str) -> None:
    """Lay out one function's source folder: main.py, backfill/ (less local/), requirements.txt."""
    source = root / "functions" / name
    if not (source / "main.py").is_file():
        raise SystemExit(f"package: {source / 'main.py'} not found")
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(source, dest, ignore=IGNORED)
    package = root / "shared" / "backfill"
    shutil.copytree(package, dest / "backfill", ignore=_ignore_local(package))
    (dest / "requirements.txt").write_text(requirements, encoding="utf-8")


def write_zip(folder: Path, archive: Path) -> None:
    """Zip a folder reproducibly: same files and bytes give the same archive."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    tmp = archive.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), date_time=ZIP_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())
    tmp.replace(archive)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="repository root")
    parser.add_argument(
        "--out", type=Path, default=None, help="build directory (default ROOT/build)"
    )
    parser.add_argument("names", nargs="*", default=list(FUNCTIONS), help="functions to package")
    args = parser.parse_args(argv)

    root = args.root.resolve()
    out = (args.out or root / "build").resolve()
    requirements = locked_requirements(root)
    for name in args.names:
        folder = out / "functions" / name
        build_folder(root, name, folder, requirements)
        write_zip(folder, out / f"{name}.zip")
        print(f"package: {out / f'{name}.zip'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
