#!/usr/bin/env bash
# Creates (once) the project's Python virtual environment and prints its python. It holds what the
# ADBC driver's Python test needs (`adbc-driver-manager`, `pyarrow`, and `pandas` and `polars` as
# clients of the driver) and the engines `dfshm-bench
# tpch --peers` compares against (`duckdb`, `polars`, `datafusion`, the DataFusion Python bindings).
# .ci/run calls it; the tests call it too when the environment is missing. DFSHM_VENV chooses the
# folder.
set -euo pipefail
venv="${DFSHM_VENV:-$HOME/.cache/dfshm/venv}"
modules="adbc_driver_manager.dbapi, pyarrow, pandas, duckdb, polars, datafusion"
if ! "$venv/bin/python" -c "import $modules" >/dev/null 2>&1; then
    echo "creating the Python environment in $venv (adbc-driver-manager, pyarrow, pandas, duckdb, polars, datafusion)" >&2
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        "adbc-driver-manager>=1.5" "pyarrow>=15" "pandas>=2.2" "duckdb>=1.1" "polars>=1.10" "datafusion>=45" >&2
fi
echo "$venv/bin/python"
