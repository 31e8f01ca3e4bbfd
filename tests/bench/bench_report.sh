#!/usr/bin/env bash
# bench_report.sh - `make bench-report`: in one command, everything needed
# to judge this project's speed on the machine at hand, for anyone to run
# and hand back (dev-only, not part of `make test`; about 8 to 10 minutes
# on 2 cores):
#
#   1. the CPU, its ISA sets and those this build runs, and its ceilings
#      (tests/bench/bench_ceiling.c: the FMA units' GFLOP/s, Adam's pass
#      over the head's state);
#   2. the tuning: `extract --tune` measured here (into a scratch
#      XDG_CACHE_HOME, which every later run reads);
#   3. per layer and per ISA, the ms per image and the GFLOP/s of the
#      multiplications done (Winograd's products, not the direct
#      equivalent) and their share of the FMA ceiling, medians over ROUNDS
#      rounds that interleave the ISAs;
#   4. the network and bin/extract end to end against TensorFlow, ONNX
#      Runtime and PyTorch (tests/bench/bench_extract.sh, whose rounds
#      interleave them), at the tuned batch;
#   5. train-head against PyTorch (tests/bench/bench_head.py), and its
#      floors from the ceilings.
#
#   bash tests/bench/bench_report.sh
#
# Environment: ROUNDS (3), TUNE_SECONDS (40), N (images per run of our
# network, 32), PEER_N (32), PEER_ROUNDS (3), HEAD_ROUNDS (2), HEAD_EPOCHS
# (3), WEIGHTS and IMAGES as bench_extract.sh takes them.  Needs `make
# dev-env` and Debian's python3-torch for 4 and 5 (left out, and said so,
# when missing).
set -euo pipefail
cd "$(dirname "$0")/../.."

ROUNDS=${ROUNDS:-3} TUNE_SECONDS=${TUNE_SECONDS:-40} N=${N:-32}
PEER_N=${PEER_N:-32} PEER_ROUNDS=${PEER_ROUNDS:-3}
HEAD_ROUNDS=${HEAD_ROUNDS:-2} HEAD_EPOCHS=${HEAD_EPOCHS:-3}
WEIGHTS=${WEIGHTS:-build/test-data/vgg16_seed1.h5}
if [ -z "${IMAGES:-}" ]; then
	for d in ../shared/data/lfw-dev ../../shared/data/lfw-dev; do
		[ -d "$d" ] && IMAGES=$d && break
	done
fi
IMGARGS=()
[ -n "${IMAGES:-}" ] && [ -d "$IMAGES" ] && IMGARGS=(--images "$IMAGES")
BENCH=build/bench/bench_extract
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
export XDG_CACHE_HOME=$TMP/cache
START=$SECONDS

median() { sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
flag() { grep -m1 -o -w -E "$1" /proc/cpuinfo >/dev/null && echo yes || echo no; }

echo "== vggfeat bench-report, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo
echo "== 1. the machine"
echo "cpu:    $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs)" \
	"(family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | xargs)," \
	"model $(grep -m1 '^model\s' /proc/cpuinfo | cut -d: -f2 | xargs))," \
	"$(nproc) CPUs for this process, L2 $(($(getconf LEVEL2_CACHE_SIZE 2>/dev/null || echo 0) / 1024)) KB"
echo "flags:  $(grep -m1 -o -w -E 'fma|avx2|avx512f|avx512bw|avx512vl|avx512_vnni|avx512_bf16|avx512_fp16|amx_tile|amx_bf16' /proc/cpuinfo | sort -u | xargs)"
ISAS="portable"
[ "$(flag avx2)" = yes ] && [ "$(flag fma)" = yes ] && ISAS="avx2 emul512 $ISAS"
[ "$(flag avx512f)" = yes ] && ISAS="avx512 $ISAS"
echo "kernels this build runs here: $ISAS (the widest is chosen; VGGFEAT_ISA forces another)"
echo "load:   $(cut -d' ' -f1-3 /proc/loadavg) (other jobs share the machine when this is above 0)"
echo "ceilings (build/bench/bench_ceiling: what nothing of ours can pass; the fastest of 7 runs):"
if build/bench/bench_ceiling --threads 2 >"$TMP/ceiling.txt" 2>"$TMP/ceiling.err"; then
	awk '$1 == "fma" {printf "  fused multiply-adds alone, %d-bit vectors, %d thread(s): %s GFLOP/s\n", $2, $3, $4}
	     $1 == "adam" {printf "  Adam'"'"'s update over 4096 x 290 parameters (w, m, v from memory), 2 threads: %s ms a pass, %s GB/s\n", $3, $5}
	     $1 == "divide" {printf "  the same on data in L1 (its divider alone): %s ms a pass\n", $3}' "$TMP/ceiling.txt"
else
	echo "  left out: $(tail -1 "$TMP/ceiling.err")"
fi
# peak ISA: the FMA ceiling, 2 threads, of the vectors that ISA's kernels use.
peak() {
	local bits=128
	case $1 in avx512) bits=512 ;; avx2|emul512) bits=256 ;; esac
	awk -v b="$bits" '$1 == "fma" && $2 == b && $3 == 2 {print $4}' "$TMP/ceiling.txt" 2>/dev/null
}
echo

echo "== 2. the tuning (bin/extract --tune=$TUNE_SECONDS)"
bin/extract --tune="$TUNE_SECONDS" 2>&1 | sed 's/^/  /'
GATHER=$(awk '$1 == "gather" {print $2}' "$XDG_CACHE_HOME"/vggfeat/tune-*.txt)
echo

echo "== 3. per layer and ISA: ms per image, GFLOP/s ($ROUNDS rounds of $N images," \
	"batch $GATHER, 2 threads, tuned; medians)"
for r in $(seq "$ROUNDS"); do
	for isa in $ISAS; do
		n=$N reps=2
		# The slow sets on fewer images: the same stages, the same medians.
		case $isa in portable|emul512) n=$((N / 2)) reps=1 ;; esac
		"$BENCH" --weights "$WEIGHTS" "${IMGARGS[@]}" --n "$n" --batch "$GATHER" \
			--threads 2 --reps "$reps" --isa "$isa" --tuned >"$TMP/isa.$isa.$r"
	done
done
# table COLUMN: per stage and ISA, the median of COLUMN (5: wall seconds, 7:
# CPU seconds per image) in ms, and GFLOP over it; for wall seconds, that
# as a percentage of the ISA's FMA ceiling too.
table() {
	local w=17
	[ "$1" = 5 ] && w=22
	printf '%-8s %3s %6s' stage m GFLOP
	for isa in $ISAS; do printf " %${w}s" "$isa"; done
	echo
	for s in $(awk '$1 == "stage" {print $2}' "$TMP/isa.portable.1"); do
		m=$(awk -v s="$s" '$1 == "stage" && $2 == s {print $3}' "$TMP/isa.portable.1")
		gf=$(awk -v s="$s" '$1 == "stage" && $2 == s {print $6 + 0}' "$TMP/isa.portable.1")
		printf '%-8s %3s %6.3f' "$s" "$([ "$m" = 0 ] && echo - || echo "$m")" "$gf"
		for isa in $ISAS; do
			ms=$(cat "$TMP"/isa."$isa".* | awk -v s="$s" -v c="$1" '$1 == "stage" && $2 == s {print $c * 1000}' | median)
			printf ' %7.2f' "$ms"
			awk -v g="$gf" -v ms="$ms" 'BEGIN {if (g > 0 && ms > 0) printf " %9.1f", g / ms * 1000; else printf " %9s", "-"}'
			[ "$1" = 5 ] && awk -v g="$gf" -v ms="$ms" -v p="$(peak "$isa")" \
				'BEGIN {if (g > 0 && ms > 0 && p > 0) printf " %3.0f%%", g / ms * 1000 / p * 100; else printf " %4s", "-"}'
		done
		echo
	done
}
echo "Wall clock: ms per image, then GFLOP/s and its share of the ISA's FMA ceiling"
echo "(above: avx512 its 512-bit vectors', avx2 and emul512 256-bit, portable 128-bit),"
echo "for each ISA"
table 5
printf '%-19s' 'img/s (network)'
for isa in $ISAS; do
	printf ' %22.2f' "$(cat "$TMP"/isa."$isa".* | awk '$1 == "img_per_s" {print $2}' | median)"
done
echo
echo
echo "CPU time (both threads'; what other jobs move least): ms per image, then GFLOP"
echo "per CPU second, for each ISA"
table 7
echo "(a pool taken by its conv layer's output transform shows 0.00 and counts in"
echo "that layer)"
echo

echo "== 4. extraction against the peers (tests/bench/bench_extract.sh, batch $GATHER)"
if N=$PEER_N BATCH=$GATHER ROUNDS=$PEER_ROUNDS TF_ONEDNN=${TF_ONEDNN:-default} \
	OURS=--tuned IMAGES=${IMAGES:-none} WEIGHTS=$WEIGHTS \
	bash tests/bench/bench_extract.sh >"$TMP/peers.txt" 2>"$TMP/peers.err"; then
	sed 's/^/  /' "$TMP/peers.txt"
else
	echo "  left out: $(tail -1 "$TMP/peers.err")"
fi
echo

echo "== 5. train-head against PyTorch (tests/bench/bench_head.py, $HEAD_ROUNDS rounds of $HEAD_EPOCHS epochs)"
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
	/usr/bin/python3 tests/bench/bench_head.py --rounds "$HEAD_ROUNDS" \
		--epochs "$HEAD_EPOCHS" 2>&1 | sed 's/^/  /'
	# Its floors from the ceilings: an epoch is 375 steps of batch 32; a
	# step's products (the gradient and the next batch's outputs, 2 x 2 x
	# 32 x 4096 x 290 flops) at the widest FMA ceiling, and one pass of
	# Adam's update.  One after the other, as train-head's fused step runs
	# them a tile at a time; or wholly overlapped, which no code reaches.
	p=$(peak "${ISAS%% *}")
	a=$(awk '$1 == "adam" {print $3}' "$TMP/ceiling.txt" 2>/dev/null)
	[ -n "$p" ] && [ -n "$a" ] && awk -v p="$p" -v a="$a" 'BEGIN {
		f = 2 * 2 * 32 * 4096 * 290 / (p * 1e9) * 1e3
		printf "  its floors here: %.3f ms of products at the FMA ceiling + %.3f ms of Adam a step;\n", f, a
		printf "  375 steps: %.3f s/epoch one after the other, %.3f wholly overlapped\n", 375 * (f + a) / 1e3, 375 * (f > a ? f : a) / 1e3 }'
else
	echo "  left out: /usr/bin/python3 lacks torch (apt-get install python3-torch)"
fi
echo
echo "== bench-report took $((SECONDS - START)) s; load at the end $(cut -d' ' -f1-3 /proc/loadavg)"
