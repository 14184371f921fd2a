#!/bin/sh
# The A/B of casusd's send batching (bench/RESULTS.md, "Several frames per
# write"): bench/run.sh, casus only and short, on build A (before) and build B
# (after), legs A B B A, the RESULT lines of each leg tagged LEG=A or LEG=B on
# standard output (raw.txt here). Run it in the folder of a throw-away clone
# of the repository (each leg rewrites bench/RESULTS.md, put back afterwards):
#   bench/results/20261203-send-batch/ab.sh BUILD_A BUILD_B > raw.txt
# (3 December: BUILD_A was commit 5c21dc9's build-bench, BUILD_B this change's
# RelWithDebInfo build.)
set -u
[ $# -eq 2 ] || { echo "usage: $0 BUILD_A BUILD_B" >&2; exit 2; }
for leg in A B B A; do
  case $leg in A) BLD=$1;; B) BLD=$2;; esac
  ONLY="casus casus-tls" QUICK=1 NOCONN=1 ROUNDS=1 FLAT_S=6 RATES="2000" NOBUILD=1 BUILD=$BLD \
    bench/run.sh > "ab-$leg.log" 2>&1
  d=$(ls -d bench/results/*-quick | tail -1)
  grep '^RESULT' "$d/raw.txt" | sed "s/^RESULT/LEG=$leg/"
  rm -rf "$d"; git checkout -q bench/RESULTS.md
done
