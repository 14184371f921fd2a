#!/bin/sh
# tools/analyse.sh: the static analyser of the test command (tests/run.sh).
#
# Runs cppcheck (Debian's cppcheck package) over every tracked .c file with the
# checks that find bugs rather than taste (warning, portability, performance).
# Any finding fails, unless tools/cppcheck.supp names it with a reason. System
# headers are not read (that would take many times longer); what cppcheck needs
# to know of jansson's macros is in tools/cppcheck.cfg.
#
#   tools/analyse.sh     exit 0: nothing found; 1: findings (listed); 2: no cppcheck
set -eu
cd "$(dirname "$0")/.."
if ! command -v cppcheck >/dev/null 2>&1; then
	echo "analyse: cppcheck not found (Debian: apt-get install cppcheck)" >&2
	exit 2
fi
JOBS=${CASUS_JOBS:-$(nproc 2>/dev/null || echo 2)}
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	files=$(git ls-files '*.c')
else
	files=$(find . -path './build*' -prune -o -name '*.c' -print | sed 's|^\./||' | sort)
fi
incs=""
for d in crypto protocol server client audit bench tests/unit; do
	[ -d "$d" ] && incs="$incs -I $d"
done
# shellcheck disable=SC2086
cppcheck -q -j "$JOBS" --std=c11 --enable=warning,portability,performance --inline-suppr \
	--library=tools/cppcheck.cfg --suppressions-list=tools/cppcheck.supp \
	--error-exitcode=1 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -D__GNUC__ \
	--template='{file}:{line}: {severity} [{id}] {message}' $incs $files
echo "analyse: cppcheck found nothing that tools/cppcheck.supp does not explain"
