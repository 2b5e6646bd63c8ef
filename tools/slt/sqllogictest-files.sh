#!/usr/bin/env bash
# Lays out DataFusion's sqllogictest files and the data they read under ROOT, shaped like a
# DataFusion checkout (ROOT/datafusion/sqllogictest/test_files, ROOT/testing/data, ...):
# - test_files/ and data/ come from the crate datafusion-sqllogictest at the pinned version,
#   fetched by cargo from crates.io into cargo's registry (nothing is compiled);
# - the files it reads from DataFusion's other folders and from apache/arrow-testing and
#   apache/parquet-testing are the copies in tests/slt/data/ (see tools/slt/external-data.sh).
# The differential test (tests/slt) runs this itself when ROOT is not laid out yet.
#   tools/slt/sqllogictest-files.sh ROOT
set -euo pipefail
VERSION=55.2.0
checkout=$(cd "$(dirname "$0")/../.." && pwd)
if [ $# -ne 1 ]; then
  echo "usage: $0 ROOT" >&2
  exit 2
fi
root=$1
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
mkdir -p "$probe/src"
echo 'fn main() {}' > "$probe/src/main.rs"
cat > "$probe/Cargo.toml" <<TOML
[package]
name = "dfshm-slt-files"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
datafusion-sqllogictest = "=$VERSION"

[workspace]
TOML
echo "fetching datafusion-sqllogictest $VERSION's test files through cargo" >&2
cargo fetch --quiet --manifest-path "$probe/Cargo.toml"
manifest=$(cargo metadata --offline --format-version 1 --manifest-path "$probe/Cargo.toml" |
  python3 -c 'import json, sys
packages = json.load(sys.stdin)["packages"]
print(next(p["manifest_path"] for p in packages if p["name"] == "datafusion-sqllogictest"))')
crate=$(dirname "$manifest")
rm -rf "$root.partial"
mkdir -p "$root.partial/datafusion/sqllogictest"
cp -r "$crate/test_files" "$crate/data" "$root.partial/datafusion/sqllogictest/"
cp -r "$checkout/tests/slt/data/." "$root.partial/"
chmod -R u+w "$root.partial"
echo "$VERSION" > "$root.partial/.complete"
rm -rf "$root"
mv "$root.partial" "$root"
echo "laid out $(find "$root" -name '*.slt' | wc -l) .slt files under $root" >&2
