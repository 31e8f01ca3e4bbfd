#!/usr/bin/env bash
# bin/extract with 1 rank and with 2 ranks under mpirun, side by side on the
# same generated faces, in rounds that alternate them; prints each run and
# the medians (img/s from extract's summary: weights loading included).
#   bash tests/bench/bench_mpi.sh [IMAGES] [ROUNDS]
# Needs bin/extract built with MPI (make, with libopenmpi-dev installed) and
# the test weights (make test, or build/demo/gen_weights).
set -euo pipefail
cd "$(dirname "$0")/../.."
images=${1:-32} rounds=${2:-3}
weights=build/test-data/vgg16_seed1.h5
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
build/demo/gen_faces --out "$tmp/faces" --people 4 --images $((images / 4)) --seed 5
root=()
[ "$(id -u)" -eq 0 ] && root=(--allow-run-as-root)
export OMPI_MCA_btl_vader_single_copy_mechanism=none
rate() { sed -n 's/.* \([0-9.]*\) img\/s$/\1/p' "$1"; }
for r in $(seq "$rounds"); do
	for n in 1 2; do
		rm -rf "$tmp/db"
		mpirun "${root[@]}" --oversubscribe -n "$n" bin/extract --in "$tmp/faces" \
			--db "$tmp/db" --weights "$weights" -q 2>"$tmp/log.$n.$r"
		echo "round $r, $n rank(s): $(rate "$tmp/log.$n.$r") img/s"
	done
done
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
m1=$(for r in $(seq "$rounds"); do rate "$tmp/log.1.$r"; done | median)
m2=$(for r in $(seq "$rounds"); do rate "$tmp/log.2.$r"; done | median)
echo "median img/s: 1 rank $m1, 2 ranks $m2, ratio $(awk -v a="$m1" -v b="$m2" 'BEGIN { printf "%.2f", b / a }')"
