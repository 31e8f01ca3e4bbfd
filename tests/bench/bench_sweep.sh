#!/bin/bash
# bench_sweep.sh - a 24-combination sweep against the 24 runs it stands
# for: `train-head --lr A,B,C --batch-size D,E --dropout F,G
# --label-smoothing H,I` (the features read once) beside the same 24
# combinations as 24 commands (each reading the store), on one store,
# alternated over ROUNDS rounds; prints each round's seconds (wall and the
# processes' CPU) and the ratio of the medians.  Not a test: nothing is
# asserted.
#
#   tests/bench/bench_sweep.sh STORE [EPOCHS [ROUNDS]]
#
# for example on lfw-dev's features (1,240 images, 62 people):
#   bin/extract --in ../shared/data/lfw-dev --db build/lfw/lfw.lmdb ...
#   tests/bench/bench_sweep.sh build/lfw/lfw.lmdb 10 3
set -euo pipefail
cd "$(dirname "$0")/../.."
store=${1:?usage: bench_sweep.sh STORE [EPOCHS [ROUNDS]]}
epochs=${2:-10}
rounds=${3:-3}
lrs=(1e-4 3e-4 1e-3) batches=(16 32) drops=(0 0.5) smooths=(0 0.1)
bin=bin/train-head
[ -x "$bin" ] || { echo "build first: make bin/train-head" >&2; exit 1; }
head=$(mktemp -d)/head.h5 # every run's head, not the current folder's
trap 'rm -rf "$(dirname "$head")"' EXIT

# Seconds of wall and of CPU (user + system) of the command.
timed() {
	local t0 t1 tf
	tf=$(mktemp)
	t0=$(date +%s.%N)
	/usr/bin/time -o "$tf" -f '%U %S' "$@" >/dev/null 2>&1
	t1=$(date +%s.%N)
	echo "$(echo "$t1 - $t0" | bc) $(awk '{print $1 + $2}' "$tf")"
	rm -f "$tf"
}

sweep=() singles=()
echo "store $store, $epochs epochs, 24 combinations, $rounds rounds, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$rounds"); do
	read -r w c < <(timed "$bin" --db "$store" --epochs "$epochs" -q --out "$head" \
		--lr "$(IFS=,; echo "${lrs[*]}")" --batch-size "$(IFS=,; echo "${batches[*]}")" \
		--dropout "$(IFS=,; echo "${drops[*]}")" \
		--label-smoothing "$(IFS=,; echo "${smooths[*]}")")
	sweep+=("$w")
	ws=0 cs=0
	for lr in "${lrs[@]}"; do for b in "${batches[@]}"; do
	for d in "${drops[@]}"; do for s in "${smooths[@]}"; do
		read -r w1 c1 < <(timed "$bin" --db "$store" --epochs "$epochs" -q --out "$head" --lr "$lr" \
			--batch-size "$b" --dropout "$d" --label-smoothing "$s")
		ws=$(echo "$ws + $w1" | bc) cs=$(echo "$cs + $c1" | bc)
	done; done; done; done
	singles+=("$ws")
	printf 'round %d: the sweep %.2f s (CPU %.2f s), 24 runs %.2f s (CPU %.2f s)\n' \
		"$r" "$w" "$c" "$ws" "$cs"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
ms=$(median "${sweep[@]}") mr=$(median "${singles[@]}")
printf 'median: the sweep %.2f s, 24 runs %.2f s: the sweep costs %.2f of the runs\n' \
	"$ms" "$mr" "$(echo "$ms / $mr" | bc -l)"
