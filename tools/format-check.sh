#!/bin/sh
# tools/format-check.sh: checks that every tracked .c and .h file is laid out as
# .clang-format says, with clang-format 14 (Debian 12's clang-format package).
#
#   tools/format-check.sh          check only: lists the files that differ, exit 1 if any
#   tools/format-check.sh --fix    reformat those files in place (one commit, by the lead)
#   tools/format-check.sh FILE...  check (or with --fix, reformat) only these files
#
# Another major version of clang-format lays some constructs out differently,
# so the check refuses to run with one (set CLANG_FORMAT to a version-14 binary).
set -eu
cd "$(dirname "$0")/.."

fix=0
if [ "${1:-}" = "--fix" ]; then
	fix=1
	shift
fi

CF=${CLANG_FORMAT:-}
if [ -z "$CF" ]; then
	for c in clang-format-14 clang-format; do
		if command -v "$c" >/dev/null 2>&1; then
			CF=$c
			break
		fi
	done
fi
if [ -z "$CF" ]; then
	echo "format-check: clang-format not found (Debian: apt-get install clang-format)" >&2
	exit 2
fi
ver=$("$CF" --version | sed -n 's/.*clang-format version \([0-9][0-9]*\)\..*/\1/p')
if [ "$ver" != "14" ]; then
	echo "format-check: $CF is version ${ver:-unknown}; the layout is defined by version 14" >&2
	exit 2
fi

if [ $# -gt 0 ]; then
	files=$*
elif git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	files=$(git ls-files '*.c' '*.h')
else
	# an exported tree without git: the same set, minus build folders
	files=$(find . -path './build*' -prune -o \( -name '*.c' -o -name '*.h' \) -print | sed 's|^\./||' | sort)
fi

bad=0
nfiles=0
for f in $files; do
	nfiles=$((nfiles + 1))
	if [ "$fix" -eq 1 ]; then
		"$CF" -i "$f"
	elif ! "$CF" --dry-run -Werror "$f" >/dev/null 2>&1; then
		n=$("$CF" "$f" | diff "$f" - | grep -c '^<' || true)
		echo "format-check: $f: $n lines differ"
		bad=$((bad + 1))
	fi
done
if [ "$fix" -eq 1 ]; then
	echo "format-check: reformatted $nfiles files"
	exit 0
fi
if [ "$bad" -ne 0 ]; then
	echo "format-check: $bad of $nfiles files differ from .clang-format (see: $CF --dry-run FILE; fix: tools/format-check.sh --fix)"
	exit 1
fi
echo "format-check: $nfiles files match .clang-format"
