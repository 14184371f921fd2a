#!/bin/sh
# tests/run.sh: set up and run every casus test (the README's command two).
#
# Installs the Debian packages that are missing, then runs these passes in turn,
# each timed, and goes on after a failure so that one run shows every problem:
#
#   format      tools/format-check.sh: every .c/.h file as .clang-format says
#   normal      RelWithDebInfo build (build/), all of ctest: unit, fuzz-seed replay, integration
#   asan        ASan + UBSan build (build-asan/), all of ctest again, with two long tests in
#               a representative short form (docs/RELIABILITY.md, "Test-command budget"):
#               test_policy_table walks the lowest and highest level of each ladder
#               (CASUS_POLICY_LEVELS=subset; the normal pass walks every level) and the
#               kill loop does 8 kills (CASUS_KILLS=8; the normal pass does 20), and the
#               cluster test kills its writer twice (CASUS_CLUSTER_KILLS=2; normal: 4)
#   release     Release build (build-release/), gcc -O3: must build, tests not run
#   clang       clang build (build-clang/), -Werror, unit tests and fuzz-seed replay
#   analyse     cppcheck over every casus source; findings fail unless tools/cppcheck.supp
#               names them with a reason
#   fuzz        clang libFuzzer build (build-fuzz/), every tests/fuzz/fuzz_*.c driver for a
#               short timed burst from its seeds, one driver per core at a time (new inputs
#               stay in build-fuzz/, not the tree)
#
# The last line is the one summary over every pass, "casus: N passed, N failed"
# (a ctest pass counts its tests, every other pass counts one), and the exit code
# is non-zero if anything failed anywhere.
#
# Switches (environment):
#   CASUS_FORMAT_CHECK=0    skip the format check (say so in the review; CI keeps it on)
#   CASUS_FUZZ_SECONDS=N    length of each fuzz burst (default 15; 0 skips the bursts)
#   CASUS_JOBS=N            parallel jobs (default: the number of cores)
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)
JOBS=${CASUS_JOBS:-$(nproc 2>/dev/null || echo 2)}
FUZZ_SECONDS=${CASUS_FUZZ_SECONDS:-15}
FORMAT_CHECK=${CASUS_FORMAT_CHECK:-1}
for a in "$@"; do
	case "$a" in
	--no-format-check) FORMAT_CHECK=0 ;;
	*)
		echo "usage: tests/run.sh [--no-format-check]" >&2
		exit 2
		;;
	esac
done

passed=0
failed=0
failures=""
LOGDIR=$(mktemp -d "${TMPDIR:-/tmp}/casus-run.XXXXXX")
TIMES="$LOGDIR/times"
: >"$TIMES"

now() { date +%s; }

# count PASS-NAME OK: one pass, one result
count() {
	if [ "$2" -eq 0 ]; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		failures="$failures $1"
	fi
}

# timed NAME CMD...: run one step, print and record its time and result
timed() {
	t_name=$1
	shift
	echo "== $t_name =="
	t_start=$(now)
	"$@"
	t_rc=$?
	t_took=$(($(now) - t_start))
	if [ "$t_rc" -eq 0 ]; then t_res=ok; else t_res="FAILED (exit $t_rc)"; fi
	echo "== $t_name: $t_res, $t_took s =="
	printf '%-28s %6d s  %s\n' "$t_name" "$t_took" "$t_res" >>"$TIMES"
	return "$t_rc"
}

# build DIR CMAKE-ARGS...: configure and build everything in DIR
build() {
	b_dir=$1
	shift
	# CASUS_WERROR given every time: a build folder configured with it OFF by hand must not pass here
	cmake -S . -B "$b_dir" -DCASUS_WERROR=ON "$@" >"$LOGDIR/cmake-$b_dir.log" 2>&1 ||
		{ cat "$LOGDIR/cmake-$b_dir.log"; return 1; }
	cmake --build "$b_dir" -j "$JOBS"
}

# ctest_pass NAME DIR CTEST-ARGS...: run ctest, add its test counts to the summary
ctest_pass() {
	c_name=$1
	c_dir=$2
	shift 2
	c_log="$LOGDIR/ctest-$c_name.log"
	{
		(cd "$c_dir" && ctest --output-on-failure -j 2 --timeout 1500 "$@")
		echo $? >"$c_log.rc"
	} 2>&1 | tee "$c_log"
	c_rc=$(cat "$c_log.rc")
	# "100% tests passed, 0 tests failed out of 57"
	c_line=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$c_log" | tail -n 1)
	if [ -n "$c_line" ]; then
		c_nf=$(echo "$c_line" | sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/')
		c_nt=$(echo "$c_line" | sed -E 's/.* failed out of ([0-9]+).*/\1/')
		passed=$((passed + c_nt - c_nf))
		failed=$((failed + c_nf))
		[ "$c_nf" -eq 0 ] || failures="$failures $c_name($c_nf)"
		if [ "$c_nf" -eq 0 ] && [ "$c_rc" -ne 0 ]; then count "$c_name" 1; fi
	else
		count "$c_name" 1 # ctest found no tests or did not finish: that is a failure too
		return 1
	fi
	return "$c_rc"
}

# ---- set-up --------------------------------------------------------------------
timed deps ./deploy/install-deps.sh
count deps $?

# ---- format --------------------------------------------------------------------
if [ "$FORMAT_CHECK" = "0" ]; then
	echo "== format: SKIPPED (CASUS_FORMAT_CHECK=0 / --no-format-check) =="
	printf '%-28s %8s  %s\n' format - "skipped on request" >>"$TIMES"
else
	timed format ./tools/format-check.sh
	count format $?
fi

# ---- normal build, all tests ---------------------------------------------------
# libsodium and jansson for wasm are built once per machine and kept outside the
# clone (CASUS_WASM_CACHE), so a second run, or CI after a session, skips them.
WASM_CACHE=${CASUS_WASM_CACHE:-/var/cache/casus/wasm-deps}
mkdir -p "$WASM_CACHE" 2>/dev/null || WASM_CACHE="$ROOT/build-wasm-deps"
if timed build-normal build build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_EXPORT_COMPILE_COMMANDS=ON \
	-DCASUS_WASM_DEPS="$WASM_CACHE"; then
	count build-normal 0
	normal_ok=1
else
	count build-normal 1
	normal_ok=0
fi

# ---- sanitizer build, all tests ------------------------------------------------
if timed build-asan build build-asan -DCASUS_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug; then
	count build-asan 0
	export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1:strict_string_checks=1:check_initialization_order=1"
	export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
	export LSAN_OPTIONS="suppressions=$ROOT/tests/lsan.supp:print_suppressions=0"
	# the ASan pass's shorter forms, unless the caller set them (CASUS_KILLS=1000 is kept)
	saved_levels=${CASUS_POLICY_LEVELS-} saved_kills=${CASUS_KILLS-} saved_ckills=${CASUS_CLUSTER_KILLS-}
	export CASUS_POLICY_LEVELS="${CASUS_POLICY_LEVELS:-subset}" CASUS_KILLS="${CASUS_KILLS:-8}"
	export CASUS_CLUSTER_KILLS="${CASUS_CLUSTER_KILLS:-2}"
	timed tests-asan ctest_pass tests-asan build-asan
	unset ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS CASUS_POLICY_LEVELS CASUS_KILLS CASUS_CLUSTER_KILLS
	[ -z "$saved_levels" ] || export CASUS_POLICY_LEVELS="$saved_levels"
	[ -z "$saved_kills" ] || export CASUS_KILLS="$saved_kills"
	[ -z "$saved_ckills" ] || export CASUS_CLUSTER_KILLS="$saved_ckills"
else
	count build-asan 1
fi

if [ "$normal_ok" -eq 1 ]; then
	timed tests-normal ctest_pass tests-normal build
fi

# ---- Release (what deploy/install.sh and the package build) -------------------
# (the web client is built and tested once, in the normal pass)
timed build-release build build-release -DCMAKE_BUILD_TYPE=Release -DCASUS_WEB=OFF
count build-release $?

# ---- clang: every target with -Werror, unit tests and seed replay -------------
if timed build-clang build build-clang -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCASUS_WEB=OFF; then
	count build-clang 0
	timed tests-clang ctest_pass tests-clang build-clang -L '^(unit|fuzz)$'
else
	count build-clang 1
fi

# ---- static analysis ----------------------------------------------------------
timed analyse ./tools/analyse.sh
count analyse $?

# ---- fuzzing: a short timed burst per driver ----------------------------------
# only the drivers and what they link: the fuzz build instruments everything it compiles
build_fuzz() {
	targets=$(for src in tests/fuzz/fuzz_*.c; do basename "$src" .c; done)
	cmake -S . -B build-fuzz -DCASUS_WERROR=ON -DCMAKE_C_COMPILER=clang -DCASUS_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		>"$LOGDIR/cmake-build-fuzz.log" 2>&1 || { cat "$LOGDIR/cmake-build-fuzz.log"; return 1; }
	# shellcheck disable=SC2086
	cmake --build build-fuzz -j "$JOBS" --target $targets
}

# one driver's burst: its exit code goes to $LOGDIR/fuzz-NAME.rc
fuzz_one() {
	f_name=$1
	f_corpus=${f_name#fuzz_}
	f_log="$LOGDIR/fuzz-$f_name.log"
	mkdir -p "$f_dir/corpus/$f_corpus"
	"$f_dir/tests/$f_name" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$ROOT/$f_dir/artifacts/$f_name-" \
		"$f_dir/corpus/$f_corpus" "tests/fuzz/seeds/$f_corpus" >"$f_log" 2>&1
	echo $? >"$LOGDIR/fuzz-$f_name.rc"
}

# every driver for FUZZ_SECONDS, up to two at a time (each is one process on one
# core), then the results in the drivers' order
fuzz_burst() {
	f_dir=build-fuzz
	mkdir -p "$f_dir/corpus" "$f_dir/artifacts"
	f_names=$(for f_src in tests/fuzz/fuzz_*.c; do basename "$f_src" .c; done)
	# at most two drivers at once (each may take -rss_limit_mb of memory), at least one
	f_lanes=$JOBS
	[ "$f_lanes" -le 2 ] 2>/dev/null || f_lanes=2
	[ "$f_lanes" -ge 1 ] 2>/dev/null || f_lanes=1
	f_pids=""
	f_lane=0
	while [ "$f_lane" -lt "$f_lanes" ]; do
		(
			f_i=0
			for f_name in $f_names; do
				[ $((f_i % f_lanes)) -eq "$f_lane" ] && fuzz_one "$f_name"
				f_i=$((f_i + 1))
			done
		) &
		f_pids="$f_pids $!"
		f_lane=$((f_lane + 1))
	done
	# an interrupted run stops the lanes too (background jobs of sh ignore SIGINT)
	# shellcheck disable=SC2086
	trap 'kill $f_pids 2>/dev/null; wait; exit 130' INT TERM
	wait
	trap - INT TERM
	f_all=0
	for f_name in $f_names; do
		f_corpus=${f_name#fuzz_}
		f_log="$LOGDIR/fuzz-$f_name.log"
		f_rc=$(cat "$LOGDIR/fuzz-$f_name.rc" 2>/dev/null || echo 1)
		f_execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$f_log" | tail -n 1)
		if [ "$f_rc" -eq 0 ]; then
			echo "fuzz: $f_name: ok, ${f_execs:-?} executions in $FUZZ_SECONDS s"
		else
			echo "fuzz: $f_name: FAILED (exit $f_rc); the input is in $f_dir/artifacts/; log:"
			tail -n 40 "$f_log"
			f_all=1
		fi
		count "fuzz:$f_corpus" "$f_rc"
	done
	return "$f_all"
}
if [ "$FUZZ_SECONDS" -gt 0 ]; then
	if timed build-fuzz build_fuzz; then
		count build-fuzz 0
		timed fuzz fuzz_burst
	else
		count build-fuzz 1
	fi
else
	echo "== fuzz: SKIPPED (CASUS_FUZZ_SECONDS=0) =="
fi

# ---- summary ------------------------------------------------------------------
echo
echo "== times =="
cat "$TIMES"
[ -z "$failures" ] || echo "failed:$failures"
rm -rf "$LOGDIR"
echo "casus: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
