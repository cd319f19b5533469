#!/bin/sh
# imaptest for the tests and benchmarks: the shared build script (../shared/conformance/imaptest/build.sh,
# untouched) run on a copy of its source archive with this directory's patches applied (each *.patch
# says in its header what it fixes and why). Installs $PREFIX/bin/imaptest (default ./.tools) and
# records the patches' checksum in $PREFIX/imaptest.patches: tests/interop/test_imaptest.py skips the
# runs that need a patch when the binary was built without it.
# Usage: sh tests/interop/imaptest/build.sh [PREFIX]    (idempotent; rebuilds when a patch changed)
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
PREFIX=$(mkdir -p "${1:-.tools}" && cd "${1:-.tools}" && pwd)
ARCHIVE=""
for candidate in "${POCHTA_IMAPTEST_SOURCE:-}" "$REPO/../shared/conformance/imaptest/imaptest-release-2.3.tar.gz" \
    /work/shared/conformance/imaptest/imaptest-release-2.3.tar.gz; do
    if [ -n "$candidate" ] && [ -f "$candidate" ] && [ -f "$(dirname "$candidate")/build.sh" ]; then
        ARCHIVE=$candidate
        break
    fi
done
[ -n "$ARCHIVE" ] || { echo "imaptest: the shared source archive and build.sh are not found" >&2; exit 1; }
STAMP="$PREFIX/imaptest.patches"
want=$(cat "$HERE"/*.patch | sha256sum | cut -d' ' -f1)
if [ -x "$PREFIX/bin/imaptest" ] && [ "$(cat "$STAMP" 2>/dev/null || true)" = "$want" ]; then
    echo "imaptest: $PREFIX/bin/imaptest (patched)"
    exit 0
fi
# An older build (unpatched, or with other patches) is replaced.
rm -rf "$PREFIX/bin/imaptest" "$PREFIX/imaptest-tests" "$STAMP"
command -v patch >/dev/null 2>&1 || {
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends patch >/dev/null
}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
tar -xzf "$ARCHIVE" -C "$WORK"
for p in "$HERE"/*.patch; do
    patch -s -d "$WORK/imaptest" -p1 <"$p"
done
# The shared script builds the archive that sits beside it: give it the patched one.
mkdir "$WORK/shared"
cp "$(dirname "$ARCHIVE")/build.sh" "$WORK/shared/build.sh"
tar -czf "$WORK/shared/$(basename "$ARCHIVE")" -C "$WORK" imaptest
sh "$WORK/shared/build.sh" "$PREFIX"
echo "$want" >"$STAMP"
