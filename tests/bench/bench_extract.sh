#!/usr/bin/env bash
# bench_extract.sh - this project's VGG16 extraction against TensorFlow's own
# (Keras' VGG16, the seed's library), ONNX Runtime and PyTorch, side by side
# in one run on the same images and weights (`make bench`; dev-only, not
# part of `make test`).
#
#   bash tests/bench/bench_extract.sh [--tiles]
#
# Needs the development environment (make dev-env: TensorFlow, tf-keras and
# onnxruntime from PyPI in build/dev-env) and Debian's python3-torch (which
# also exports the ONNX model).  Environment: N (images, default 64), BATCH
# (8), ROUNDS (3), WEIGHTS (the Keras file if $VGG16_WEIGHTS names one, else
# the synthetic test file), IMAGES (default ../shared/data/lfw-dev; random
# images when absent), DEV_PY (build/dev-env/bin/python), TORCH_PY
# (/usr/bin/python3), TF_MODE (predict, the default, or call: see
# bench_tf.py), TF_ONEDNN (both, the default: TensorFlow as it ships, which
# turns oneDNN on only on CPUs with AVX-512 VNNI, BF16 or AMX, and a second
# row with TF_ENABLE_ONEDNN_OPTS=1, unless that is the same; "default": the
# first only), OURS (more arguments for bench_extract, such as --tuned:
# this CPU's tuning, as extract runs with it).
#
# Each round runs every contender once, one after another, so that the
# machine's noise falls on all of them alike; the table gives the median
# over the rounds and each one's rate against TensorFlow (vs TF: the faster
# of its two rows), ONNX Runtime (vs ORT) and PyTorch.  Ours is timed by
# build/bench/bench_extract (the network alone, like the peers) and end to
# end by bin/extract on a fresh store (decoding, network and LMDB writes; the rate between a run of
# N/4 and one of N images, so that loading the weights does not count).
# The peers get the images ours decoded and preprocessed (bench_extract
# --dump: Keras' input after vgg16.preprocess_input), batch BATCH, 2
# threads (intra-op 2, inter-op 1).
# --tiles instead times every conv layer with each Winograd tile side, the
# measurement behind vgg.c's default_tile (it needs no Python).
set -euo pipefail
cd "$(dirname "$0")/../.."

N=${N:-64} BATCH=${BATCH:-8} ROUNDS=${ROUNDS:-3} OURS=${OURS:-}
DEV_PY=${DEV_PY:-build/dev-env/bin/python} TORCH_PY=${TORCH_PY:-/usr/bin/python3}
TF_MODE=${TF_MODE:-predict} TF_ONEDNN=${TF_ONEDNN:-both}
IMAGES=${IMAGES:-../shared/data/lfw-dev}
if [ -z "${WEIGHTS:-}" ]; then
	if [ -n "${VGG16_WEIGHTS:-}" ] && [ -f "$VGG16_WEIGHTS" ]; then
		WEIGHTS=$VGG16_WEIGHTS
	else
		WEIGHTS=build/test-data/vgg16_seed1.h5
	fi
fi
BENCH=build/bench/bench_extract
GFLOP=30.9 # per image: VGG16 through fc2
IMGARGS=()
[ -d "$IMAGES" ] && IMGARGS=(--images "$IMAGES")
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

median() { sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
field() { awk -v k="$1" '$1 == k {print $2}' "$2"; }

if [ "${1:-}" = --tiles ]; then
	for r in $(seq "$ROUNDS"); do
		for m in 2 4 6; do
			"$BENCH" --weights "$WEIGHTS" --n 32 --batch "$BATCH" --threads 2 \
				--reps 2 --tile "$m" >"$TMP/tile$m.$r"
		done
	done
	printf '%-8s %9s %9s %9s   (ms per image, median of %d rounds)\n' \
		layer 'F(2,3)' 'F(4,3)' 'F(6,3)' "$ROUNDS"
	for layer in conv1_2 conv2_1 conv2_2 conv3_1 conv3_2 conv3_3 conv4_1 \
		conv4_2 conv4_3 conv5_1 conv5_2 conv5_3; do
		printf '%-8s' "$layer"
		for m in 2 4 6; do
			v=$(cat "$TMP"/tile$m.* | awk -v l="$layer" '$1 == "stage" && $2 == l {print $5 * 1000}' | median)
			printf ' %9.2f' "$v"
		done
		echo
	done
	exit 0
fi

# The peers: TensorFlow and ONNX Runtime from PyPI in the development
# environment, PyTorch from Debian.
if [ ! -x "$DEV_PY" ] || ! "$DEV_PY" -c '
import importlib.util, sys
sys.exit(any(importlib.util.find_spec(m) is None
             for m in ("tensorflow", "tf_keras", "onnxruntime")))' 2>/dev/null; then
	echo "bench: the development environment is missing ($DEV_PY with" \
		"tensorflow, tf_keras, onnxruntime): run \`make dev-env\` first" >&2
	exit 1
fi
"$TORCH_PY" -c 'import torch' 2>/dev/null || {
	echo "bench: $TORCH_PY lacks torch (apt-get install python3-torch)" >&2
	exit 1
}

echo "weights: $WEIGHTS"
echo "images:  $N from ${IMGARGS[1]:-random data}, batch $BATCH, $ROUNDS rounds"
echo "cpu:     $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs)," \
	"$(nproc) cores, flags:$(grep -m1 -o -w -E 'avx2|avx512f|fma' /proc/cpuinfo | sort -u | xargs | sed 's/^/ /')"
echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(unset)}; ours: isa $("$BENCH" --weights "$WEIGHTS" --n 1 --reps 1 | field isa /dev/stdin)"

# The same images for everyone: ours decodes them and writes them out.
"$BENCH" --weights "$WEIGHTS" "${IMGARGS[@]}" --n "$N" --batch "$BATCH" \
	--reps 1 --dump "$TMP/imgs.f32" >"$TMP/dump.txt"
"$TORCH_PY" tests/bench/bench_torch.py "$WEIGHTS" "$TMP/imgs.f32" 1 1 2 1 \
	"$TMP/vgg16.onnx" >/dev/null 2>"$TMP/export.log" || {
	cat "$TMP/export.log" >&2
	exit 1
}

# The end-to-end run takes the same first N images (--limit, key order).
E2E=""
[ -d "$IMAGES" ] && E2E=$IMAGES

extract_rate() { # n -> seconds for bin/extract on a fresh store
	local db=$TMP/db.$1 t0 t1
	rm -rf "$db"
	t0=$(date +%s.%N)
	/usr/bin/time -f '%M' -o "$TMP/extract.rss" bin/extract --in "$E2E" --db "$db" \
		--weights "$WEIGHTS" --batch "$BATCH" --limit "$1" -q 2>/dev/null
	t1=$(date +%s.%N)
	echo "$t1 - $t0" | bc -l
}

for r in $(seq "$ROUNDS"); do
	echo "round $r/$ROUNDS" >&2
	"$BENCH" --weights "$WEIGHTS" --n "$N" --batch "$BATCH" --threads 2 --reps 3 $OURS \
		"${IMGARGS[@]}" >"$TMP/ours2.$r"
	"$BENCH" --weights "$WEIGHTS" --n "$N" --batch "$BATCH" --threads 1 --reps 1 \
		"${IMGARGS[@]}" >"$TMP/ours1.$r"
	"$TORCH_PY" tests/bench/bench_torch.py "$WEIGHTS" "$TMP/imgs.f32" "$N" \
		"$BATCH" 2 1 >"$TMP/torch.$r" 2>/dev/null
	"$DEV_PY" tests/bench/bench_tf.py "$WEIGHTS" "$TMP/imgs.f32" "$N" \
		"$BATCH" 2 1 --mode "$TF_MODE" >"$TMP/tf.$r" 2>"$TMP/tf.log" || {
		cat "$TMP/tf.log" >&2
		exit 1
	}
	if [ "$TF_ONEDNN" = both ] && [ "$(field onednn "$TMP/tf.$r")" != on ]; then
		TF_ENABLE_ONEDNN_OPTS=1 "$DEV_PY" tests/bench/bench_tf.py "$WEIGHTS" \
			"$TMP/imgs.f32" "$N" "$BATCH" 2 1 --mode "$TF_MODE" \
			>"$TMP/tfdnn.$r" 2>"$TMP/tf.log" || {
			cat "$TMP/tf.log" >&2
			exit 1
		}
	fi
	"$DEV_PY" tests/bench/bench_ort.py "$TMP/vgg16.onnx" "$TMP/imgs.f32" "$N" \
		"$BATCH" 2 1 >"$TMP/ort.$r" 2>"$TMP/ort.log" || {
		cat "$TMP/ort.log" >&2
		exit 1
	}
	if [ -n "$E2E" ]; then
		a=$(extract_rate $((N / 4)))
		b=$(extract_rate "$N")
		echo "$N $a $b" | awk '{printf "img_per_s %.3f\n", ($1 - $1 / 4) / ($3 - $2)}' \
			>"$TMP/e2e.$r"
		echo "peak_rss_mb $(($(cat "$TMP/extract.rss") / 1024))" >>"$TMP/e2e.$r"
	fi
done

med() { cat "$TMP"/"$1".* | awk -v k="$2" '$1 == k {print $2}' | median; }
ours=$(med ours2 img_per_s) ours1=$(med ours1 img_per_s)
torch=$(med torch img_per_s) ort=$(med ort img_per_s)
tfname() { echo "TensorFlow $(field version "$TMP/$1.1") (Keras $(field mode "$TMP/$1.1"), oneDNN $(field onednn "$TMP/$1.1"))"; }
tf=$(med tf img_per_s) tfref=tf
if [ -f "$TMP/tfdnn.1" ] && [ "$(echo "$(med tfdnn img_per_s) > $tf" | bc -l)" = 1 ]; then
	tf=$(med tfdnn img_per_s) tfref=tfdnn
fi

echo
echo "peers: TensorFlow $(field version "$TMP/tf.1") with tf-keras $(field keras "$TMP/tf.1")," \
	"onnxruntime $(field version "$TMP/ort.1") (PyPI, $("$DEV_PY" -c 'import sys; print("Python %d.%d" % sys.version_info[:2])'))," \
	"PyTorch $("$TORCH_PY" -c 'import torch; print(torch.__version__)') (Debian)"
printf '%-48s %7s %8s %7s %7s %8s %9s\n' "(2 threads, batch $BATCH)" img/s GFLOP/s \
	'vs TF' 'vs ORT' 'vs torch' 'peak RSS'
row() { # name img/s rss
	printf '%-48s %7.2f %8.1f %6.2fx %6.2fx %7.2fx %6s MB\n' "$1" "$2" \
		"$(echo "$2 * $GFLOP" | bc -l)" "$(echo "$2 / $tf" | bc -l)" \
		"$(echo "$2 / $ort" | bc -l)" "$(echo "$2 / $torch" | bc -l)" "$3"
}
row "vggfeat (Winograd, network)" "$ours" "$(med ours2 peak_rss_mb)"
[ -n "$E2E" ] && row "vggfeat bin/extract (end to end)" "$(med e2e img_per_s)" \
	"$(med e2e peak_rss_mb)"
row "$(tfname tf)$([ -f "$TMP/tfdnn.1" ] && echo ' *')" "$(med tf img_per_s)" "$(med tf peak_rss_mb)"
[ -f "$TMP/tfdnn.1" ] && row "$(tfname tfdnn)" "$(med tfdnn img_per_s)" "$(med tfdnn peak_rss_mb)"
row "ONNX Runtime $(field version "$TMP/ort.1")" "$ort" "$(med ort peak_rss_mb)"
row "PyTorch $("$TORCH_PY" -c 'import torch; print(torch.__version__)')" \
	"$torch" "$(med torch peak_rss_mb)"
if [ -f "$TMP/tfdnn.1" ]; then
	echo "* TensorFlow as it ships: oneDNN $(field onednn "$TMP/tf.1") on this CPU; the next row sets TF_ENABLE_ONEDNN_OPTS=1"
	echo "vs TF: against the faster of the two, $(tfname "$tfref")"
else
	echo "vs TF: against $(tfname tf), as it ships"
fi
echo
printf 'vggfeat 1 thread: %.2f img/s; 2 threads: %.2f img/s (%.2fx)\n' \
	"$ours1" "$ours" "$(echo "$ours / $ours1" | bc -l)"
echo
echo "vggfeat per stage (2 threads, median ms per image; m = Winograd tile;"
echo "GFLOP/s: the multiplications done, for Winograd its products'):"
for s in $(awk '$1 == "stage" {print $2}' "$TMP/ours2.1"); do
	m=$(awk -v s="$s" '$1 == "stage" && $2 == s {print $3}' "$TMP/ours2.1")
	gf=$(awk -v s="$s" '$1 == "stage" && $2 == s {print $6 + 0}' "$TMP/ours2.1")
	ms=$(cat "$TMP"/ours2.* | awk -v s="$s" '$1 == "stage" && $2 == s {print $5 * 1000}' | median)
	pc=$(cat "$TMP"/ours2.* | awk -v s="$s" '$1 == "stage" && $2 == s {print $4}' | median)
	printf '  %-8s %s %7.2f ms %5.1f%% %8s\n' "$s" "$([ "$m" = 0 ] && echo '   ' || echo "m=$m")" \
		"$ms" "$pc" "$(awk -v g="$gf" -v ms="$ms" 'BEGIN {if (g > 0 && ms > 0) printf "%.1f GFLOP/s", g / ms * 1000}')"
done
