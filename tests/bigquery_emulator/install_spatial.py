"""Install DuckDB's spatial extension from the file in its wheel (run with .venv-bqemu's python).

DuckDB installs into $HOME/.duckdb; the Makefile points HOME into .venv-bqemu, as the test
fixture does when it starts the emulator, so nothing outside the venv is touched.
"""

from pathlib import Path

import duckdb
import duckdb_extension_spatial

extension = next(Path(duckdb_extension_spatial.__file__).parent.rglob("spatial.duckdb_extension"))
connection = duckdb.connect()
connection.execute(f"INSTALL '{extension}'")
connection.execute("LOAD spatial")
