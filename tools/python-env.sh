#!/usr/bin/env bash
# Creates (once) the Python virtual environment of the ADBC driver's Python test, with the
# `adbc-driver-manager` and `pyarrow` packages, and prints its python. .ci/run calls it; the test
# calls it too when the environment is missing. DFSHM_VENV chooses the folder.
set -euo pipefail
venv="${DFSHM_VENV:-$HOME/.cache/dfshm/venv}"
if ! "$venv/bin/python" -c "import adbc_driver_manager.dbapi, pyarrow" >/dev/null 2>&1; then
    echo "creating the Python environment in $venv (adbc-driver-manager, pyarrow)" >&2
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        "adbc-driver-manager>=1.5" "pyarrow>=15" >&2
fi
echo "$venv/bin/python"
