#!/bin/sh
# tests/run.sh: set up and run every casus test (the README's command two).
#
# Installs the Debian packages that are missing, builds the normal build
# (build/) and the AddressSanitizer + UndefinedBehaviorSanitizer build
# (build-asan/), and runs ctest (unit, fuzz-seed replay, integration) in both.
# Exits non-zero if anything fails; the last line is ctest's summary.
set -eu
cd "$(dirname "$0")/.."
JOBS=$(nproc 2>/dev/null || echo 2)

./deploy/install-deps.sh

echo "== build: normal =="
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$JOBS"

echo "== build: ASan + UBSan =="
cmake -S . -B build-asan -DCASUS_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-asan -j "$JOBS"

export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1:strict_string_checks=1:check_initialization_order=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$(pwd)/tests/lsan.supp:print_suppressions=0"

status=0
echo "== tests: sanitizer build =="
(cd build-asan && ctest --output-on-failure -j 2 --timeout 1500) || status=1
echo "== tests: normal build =="
(cd build && ctest --output-on-failure -j 2 --timeout 1500) || status=1
exit $status
