#!/usr/bin/env bash
# Installs (once) the Debian packages the tests need beyond Rust: g++ and GoogleTest, with which
# ffi/tests/validation/build.sh compiles ADBC's validation suite. .ci/run calls it; it does
# nothing when they are there. Needs root or sudo, and Debian's package archive.
set -euo pipefail
packages=(g++ libgtest-dev libgmock-dev)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$package")
done
[ "${#missing[@]}" -eq 0 ] && exit 0
sudo=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || {
        echo "installing ${missing[*]} needs root: run apt-get install ${missing[*]}" >&2
        exit 1
    }
    sudo=(sudo)
fi
echo "installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq >&2
"${sudo[@]}" apt-get install -y -qq "${missing[@]}" >&2
