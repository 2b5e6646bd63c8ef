#!/usr/bin/env bash
# Builds ADBC's validation suite with dfshm's quirks (dfshm_validation_test.cc) into OUT (default
# $CARGO_TARGET_DIR/adbc-validation) and prints the test program's path. Needs g++ and GoogleTest
# (Debian: g++ libgtest-dev libgmock-dev), which tools/system-packages.sh installs when missing.
# Objects are rebuilt only when their source changed, so a second run takes a second.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
vendor="$here/vendor/c"
out="${1:-${CARGO_TARGET_DIR:-$here/../../../target}/adbc-validation}"
mkdir -p "$out"
if [ ! -f /usr/include/gtest/gtest.h ] || [ ! -f /usr/include/gmock/gmock.h ] || ! command -v g++ >/dev/null; then
    bash "$here/../../../tools/system-packages.sh" || {
        echo "g++ or GoogleTest is missing: apt-get install g++ libgtest-dev libgmock-dev" >&2
        exit 1
    }
fi
includes=(-I"$vendor" -I"$vendor/include" -I"$vendor/vendor" -I"$vendor/driver" -I"$vendor/driver_manager")
defines=(-DADBC_EXPORTING -DADBC_CONDA_BUILD=0)
sources=(
    "$vendor/vendor/nanoarrow/nanoarrow.c"
    "$vendor/driver_manager/adbc_version_100.c"
    "$vendor/driver/common/utils.c"
    "$vendor/driver_manager/adbc_driver_manager.cc"
    "$vendor/driver_manager/adbc_driver_manager_api.cc"
    "$vendor/driver_manager/adbc_driver_manager_driver_loading.cc"
    "$vendor/driver_manager/adbc_driver_manager_profiles.cc"
    "$vendor/validation/adbc_validation.cc"
    "$vendor/validation/adbc_validation_connection.cc"
    "$vendor/validation/adbc_validation_database.cc"
    "$vendor/validation/adbc_validation_statement.cc"
    "$vendor/validation/adbc_validation_util.cc"
    "$here/dfshm_validation_test.cc"
)
objects=()
pids=()
for source in "${sources[@]}"; do
    object="$out/$(basename "$source").o"
    objects+=("$object")
    if [ "$object" -nt "$source" ] && [ "$object" -nt "$0" ]; then
        continue
    fi
    case "$source" in
        *.c) compile=(gcc -std=c11) ;;
        *) compile=(g++ -std=c++17) ;;
    esac
    # Two compilers at a time: the machine this runs on may have two cores.
    if [ "${#pids[@]}" -ge 2 ]; then
        wait "${pids[0]}"
        pids=("${pids[@]:1}")
    fi
    "${compile[@]}" -O1 -fPIC "${defines[@]}" "${includes[@]}" -c "$source" -o "$object.tmp" \
        && mv "$object.tmp" "$object" &
    pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
program="$out/dfshm-adbc-validation"
g++ -o "$program" "${objects[@]}" -lgmock -lgtest -lpthread -ldl
echo "$program"
