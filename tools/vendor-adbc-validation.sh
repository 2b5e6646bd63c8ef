#!/usr/bin/env bash
# Copies ADBC's validation suite (apache/arrow-adbc `c/validation`) and what it builds with (the
# C++ driver manager, nanoarrow, toml++, the ADBC headers) at a pinned release into
# ffi/tests/validation/vendor/. The copy is committed: CI machines reach crates.io, PyPI and
# Debian but not GitHub. Run it again, with a new TAG and COMMIT, to move to another release:
#   tools/vendor-adbc-validation.sh [path of an arrow-adbc clone]   (default: clones from GitHub)
set -euo pipefail
TAG=apache-arrow-adbc-24
COMMIT=a3f81c6feb1133ba80600ac32e6d7c0b0b407e18
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/ffi/tests/validation/vendor"
source="${1:-}"
if [ -z "$source" ]; then
    source="$(mktemp -d)"
    trap 'rm -rf "$source"' EXIT
    git clone --quiet --filter=blob:none --no-checkout https://github.com/apache/arrow-adbc "$source"
fi
if ! git -C "$source" cat-file -e "$COMMIT^{commit}" 2>/dev/null; then
    echo "$source has no commit $COMMIT ($TAG); fetch it first" >&2
    exit 1
fi
files=(
    LICENSE.txt NOTICE.txt
    c/include/arrow-adbc/adbc.h c/include/arrow-adbc/adbc_driver_manager.h
    c/driver/common/options.h c/driver/common/utils.h c/driver/common/utils.c
    c/driver_manager/adbc_driver_manager.cc c/driver_manager/adbc_driver_manager_api.cc
    c/driver_manager/adbc_driver_manager_driver_loading.cc
    c/driver_manager/adbc_driver_manager_internal.h c/driver_manager/adbc_driver_manager_profiles.cc
    c/driver_manager/adbc_version_100.c c/driver_manager/adbc_version_100.h
    c/driver_manager/current_arch.h
    c/validation/adbc_validation.cc c/validation/adbc_validation.h
    c/validation/adbc_validation_connection.cc c/validation/adbc_validation_database.cc
    c/validation/adbc_validation_statement.cc c/validation/adbc_validation_util.cc
    c/validation/adbc_validation_util.h
    c/vendor/nanoarrow/nanoarrow.c c/vendor/nanoarrow/nanoarrow.h c/vendor/nanoarrow/nanoarrow.hpp
    c/vendor/toml++/toml.hpp
)
rm -rf "$dest"
for file in "${files[@]}"; do
    mkdir -p "$dest/$(dirname "$file")"
    git -C "$source" show "$COMMIT:$file" > "$dest/$file"
done
cat > "$dest/README.md" <<README
# ADBC's validation suite, vendored

From [apache/arrow-adbc](https://github.com/apache/arrow-adbc) at \`$TAG\` (commit \`$COMMIT\`),
copied unchanged by \`tools/vendor-adbc-validation.sh\`; Apache License 2.0 (\`LICENSE.txt\`,
\`NOTICE.txt\`). dfshm's part is \`../dfshm_validation_test.cc\` and \`../build.sh\`.
README
echo "vendored $TAG ($COMMIT) into $dest"
