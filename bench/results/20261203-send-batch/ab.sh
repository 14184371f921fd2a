#!/bin/sh
# A/B of casusd send batching: bench/run.sh (casus only, quick) on builds A and B, interleaved A B B A
set -u
rm -rf /work/ab && git clone -q /work/main /work/ab && cd /work/ab
for leg in A B B A; do
  case $leg in A) BLD=/work/main/build-bench;; B) BLD=/work/wt/build;; esac
  ONLY="casus casus-tls" QUICK=1 NOCONN=1 ROUNDS=1 FLAT_S=6 RATES="2000" NOBUILD=1 BUILD=$BLD bench/run.sh > /work/ab-$leg.log 2>&1
  d=$(ls -d bench/results/*-quick | tail -1)
  grep '^RESULT' $d/raw.txt | sed "s/^RESULT/LEG=$leg/" >> /work/ab-results.txt
  rm -rf "$d"; git checkout -q bench/RESULTS.md
done
