"""Build the Cloud Functions source archives: one folder and one zip per function.

Each function folder gets its `main.py` (and any sibling files), a copy of the `backfill`
package next to it, and a `requirements.txt` with the runtime dependencies read from
pyproject.toml, so they are listed in one place only. The zips are deterministic (sorted
entries, fixed timestamps), so Terraform's content hash changes only when the code does.

Usage: python terraform/package.py [--root REPO] [--out BUILD_DIR] [NAME ...]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tomllib
import zipfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ("detector", "worker")
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", ".mypy_cache", ".pytest_cache")


def runtime_requirements(pyproject: Path) -> list[str]:
    """The [project.dependencies] of pyproject.toml, in order."""
    with pyproject.open("rb") as f:
        return list(tomllib.load(f)["project"]["dependencies"])


def build_folder(root: Path, name: str, dest: Path, requirements: list[str]) -> None:
    """Lay out one function's source folder: main.py, backfill/, requirements.txt."""
    source = root / "functions" / name
    if not (source / "main.py").is_file():
        raise SystemExit(f"package: {source / 'main.py'} not found")
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(source, dest, ignore=IGNORED)
    shutil.copytree(root / "shared" / "backfill", dest / "backfill", ignore=IGNORED)
    (dest / "requirements.txt").write_text("\n".join(requirements) + "\n", encoding="utf-8")


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
    requirements = runtime_requirements(root / "pyproject.toml")
    for name in args.names:
        folder = out / "functions" / name
        build_folder(root, name, folder, requirements)
        write_zip(folder, out / f"{name}.zip")
        print(f"package: {out / f'{name}.zip'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
