#!/usr/bin/env bash
# bench_recipe.sh - the seed's whole recipe in Keras against ours, side by
# side on the same face folder and the same weights (`make bench-recipe`;
# dev-only, not part of `make test`).
#
#   bash tests/bench/bench_recipe.sh
#
# Keras (tests/bench/bench_recipe.py, the seed's code): VGG16(weights=None)
# with load_weights(WEIGHTS), cut at fc2 and frozen, a Dense softmax on top,
# Adam(LR) and categorical cross-entropy, fit for EPOCHS epochs on
# ImageDataGenerator(preprocess_input, validation_split).flow_from_directory
# (224x224, batch 32, subsets training/validation): the frozen VGG16 runs
# on every image in every epoch.  Ours: bin/extract (the network once per
# image, into a feature store) then bin/train-head (the same head, Adam,
# batch 32, --val-split) on the stored features.  Then a rerun with another
# learning rate (LR2), as a user tuning the head would: Keras fits again from
# scratch over the images, we only rerun train-head on the stored features.
# Each process is timed from start to exit (what a user waits for), and
# Keras' fit and each of its epochs on their own.  2 threads everywhere:
# TensorFlow intra-op 2 (inter-op 1, oneDNN as TensorFlow ships it, which is
# off on CPUs without AVX-512 VNNI, BF16 or AMX: the table says which;
# TF_ENABLE_ONEDNN_OPTS=1 in the environment turns it on), ours
# on 2 cores (when the machine has more, every program is pinned to the
# first THREADS CPUs).
#
# Environment: FACES (a folder of <person>/<images>; default: a copy of the
# first PEOPLE people (16) x PER images (20) of LFW, from LFW, default
# ../shared/data/lfw-dev), WEIGHTS (the Keras file if $VGG16_WEIGHTS names
# one, else the synthetic test file), EPOCHS (5), LR (1e-4), LR2 (3e-4),
# BATCH (32), VAL_SPLIT (0.2), THREADS (2), DEV_PY
# (build/dev-env/bin/python: TensorFlow, tf-keras, Pillow and SciPy, which
# ImageDataGenerator requires; make dev-env).
#
# Time: Keras runs VGG16 forward on EPOCHS x images per run, at 2 to 3
# img/s on 2 cores of the development machine, plus about 10 s of start-up
# and waits of 10 to 30 s at some epoch boundaries; the default 320 images
# (3,200 forward passes over the two runs) take 20 to 30 minutes, all of
# LFW's dev set (PEOPLE=62, 1,240 images) 70 to 105 minutes.  With the
# synthetic weights the accuracies mean little (random features); they are
# there to show that both sides train (and their validation images differ:
# Keras holds out the first VAL_SPLIT of each class's sorted files,
# train-head a hash-chosen VAL_SPLIT of each class).
set -euo pipefail
cd "$(dirname "$0")/../.."

EPOCHS=${EPOCHS:-5} LR=${LR:-1e-4} LR2=${LR2:-3e-4} BATCH=${BATCH:-32}
VAL_SPLIT=${VAL_SPLIT:-0.2} THREADS=${THREADS:-2}
PEOPLE=${PEOPLE:-16} PER=${PER:-20} LFW=${LFW:-../shared/data/lfw-dev}
DEV_PY=${DEV_PY:-build/dev-env/bin/python}
if [ -z "${WEIGHTS:-}" ]; then
	if [ -n "${VGG16_WEIGHTS:-}" ] && [ -f "$VGG16_WEIGHTS" ]; then
		WEIGHTS=$VGG16_WEIGHTS
	else
		WEIGHTS=build/test-data/vgg16_seed1.h5
	fi
fi

die() { echo "bench-recipe: $*" >&2; exit 1; }
[ -f "$WEIGHTS" ] || die "no weights file $WEIGHTS (make $WEIGHTS)"
for p in bin/extract bin/train-head; do
	[ -x "$p" ] || die "$p is missing: run make"
done
if ! [ -x "$DEV_PY" ] || ! "$DEV_PY" -c '
import importlib.util, sys
sys.exit(any(importlib.util.find_spec(m) is None
             for m in ("tensorflow", "tf_keras", "PIL")))' 2>/dev/null; then
	die "the development environment is missing ($DEV_PY with tensorflow," \
		"tf_keras, Pillow): run \`make dev-env\` first"
fi
"$DEV_PY" -c 'import scipy.ndimage' 2>/dev/null ||
	die "$DEV_PY lacks SciPy, which Keras' ImageDataGenerator needs (even" \
		"without augmentation): add scipy to tests/ref/requirements-dev.txt" \
		"and run \`make dev-env\`"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

if [ -z "${FACES:-}" ]; then
	[ -d "$LFW" ] || die "no face folder: set FACES, or LFW (default $LFW)"
	FACES=$TMP/faces
	mkdir "$FACES"
	# Keras' order: sorted names (Python's sorted, byte order)
	mapfile -t people < <(find "$LFW" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | LC_ALL=C sort)
	for who in "${people[@]:0:$PEOPLE}"; do
		mkdir "$FACES/$who"
		mapfile -t files < <(find "$LFW/$who" -mindepth 1 -maxdepth 1 -type f -printf '%f\n' | LC_ALL=C sort)
		for f in "${files[@]:0:$PER}"; do
			cp "$LFW/$who/$f" "$FACES/$who/"
		done
	done
	what="the first $PEOPLE people x $PER images of $LFW"
else
	[ -d "$FACES" ] || die "FACES=$FACES is not a folder"
	what=$FACES
fi
nimg=$(find "$FACES" -mindepth 2 -type f | wc -l)
npeople=$(find "$FACES" -mindepth 1 -maxdepth 1 -type d | wc -l)

PIN=()
if [ "$(nproc)" -gt "$THREADS" ] && command -v taskset >/dev/null; then
	PIN=(taskset -c "0-$((THREADS - 1))")
fi

echo "weights: $WEIGHTS"
echo "faces:   $nimg images of $npeople people ($what)"
echo "recipe:  $EPOCHS epochs, batch $BATCH, Adam lr $LR then $LR2, validation split $VAL_SPLIT, $THREADS threads"
echo "cpu:     $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs)," \
	"$(nproc) cores, flags:$(grep -m1 -o -w -E 'avx2|avx512f|fma' /proc/cpuinfo | sort -u | xargs | sed 's/^/ /')"
echo "Keras runs VGG16 on $((2 * EPOCHS * nimg)) images over its two runs, we on $nimg" \
	"(at 2 to 3 img/s for Keras: $((2 * EPOCHS * nimg / 3 / 60 + 1)) to $((2 * EPOCHS * nimg / 2 / 60 + 1)) min)"

# run NAME CMD...: stdout to $TMP/NAME.out, stderr to $TMP/NAME.err; wall
# seconds, CPU seconds and peak RSS to $TMP/NAME.time.
run() {
	local name=$1 t0 t1
	shift
	t0=$(date +%s.%N)
	if ! /usr/bin/time -f 'cpu_s %U %S
peak_rss_mb %M' -o "$TMP/$name.rusage" "${PIN[@]}" "$@" \
		>"$TMP/$name.out" 2>"$TMP/$name.err"; then
		cat "$TMP/$name.err" >&2
		die "$name failed: $*"
	fi
	t1=$(date +%s.%N)
	{
		echo "wall_s $(echo "$t1 - $t0" | bc -l)"
		awk '$1 == "cpu_s" {print "cpu_s", $2 + $3}
			$1 == "peak_rss_mb" {print "peak_rss_mb", int($2 / 1024)}' "$TMP/$name.rusage"
	} >"$TMP/$name.time"
}
get() { awk -v k="$2" '$1 == k {v = $2} END {print v}' "$TMP/$1"; }
keras() { # name lr
	echo "keras: fit from the images, lr $2 ($(date +%T))" >&2
	run "$1" "$DEV_PY" tests/bench/bench_recipe.py "$FACES" "$WEIGHTS" --lr "$2" \
		--epochs "$EPOCHS" --batch "$BATCH" --val-split "$VAL_SPLIT" --threads "$THREADS"
	grep '^epoch' "$TMP/$1.err" | sed 's/^/  /' >&2 || true
}
head_run() { # name lr
	echo "vggfeat: train-head, lr $2" >&2
	run "$1" bin/train-head --db "$TMP/feats.lmdb" --epochs "$EPOCHS" --lr "$2" \
		--batch-size "$BATCH" --val-split "$VAL_SPLIT" --threads "$THREADS" \
		--out "$TMP/$1.h5"
	# its last epoch line: "... - val_accuracy: X"
	awk '/val_accuracy:/ {v = $NF} END {print "val_accuracy", v}' "$TMP/$1.out" >>"$TMP/$1.time"
	sed -n 's/.*, \([0-9.]*\) s per epoch.*/s_per_epoch \1/p' "$TMP/$1.err" >>"$TMP/$1.time"
}

keras keras1 "$LR"
echo "vggfeat: extract ($(date +%T))" >&2
run extract bin/extract --in "$FACES" --db "$TMP/feats.lmdb" --weights "$WEIGHTS" -q
head_run head1 "$LR"
keras keras2 "$LR2"
head_run head2 "$LR2"

k1=$(get keras1.time wall_s) k2=$(get keras2.time wall_s)
ex=$(get extract.time wall_s) h1=$(get head1.time wall_s) h2=$(get head2.time wall_s)
o1=$(echo "$ex + $h1" | bc -l)
ratio() { # a b -> a/b, or "-" when b is 0 (too small to time)
	echo "$1 $2" | awk '$2 <= 0 {print "-"; next} {r = $1 / $2; printf(r >= 100 ? "%.0fx" : "%.1fx", r)}'; }
secs() { echo "$1" | awk '{printf($1 >= 100 ? "%.0f s" : $1 >= 1 ? "%.1f s" : "%.3f s", $1)}'; }

echo
echo "peers: TensorFlow $(get keras1.out tf_version) with tf-keras $(get keras1.out keras_version)" \
	"(oneDNN $(get keras1.out onednn)), $("$DEV_PY" -c 'import sys; print("Python %d.%d" % sys.version_info[:2])');" \
	"Keras: $(get keras1.out n_train) training and $(get keras1.out n_val) validation images"
printf '%-40s %22s %22s %10s\n' "($nimg images, $npeople people, $THREADS threads)" \
	"Keras (seed's recipe)" "vggfeat" "Keras/ours"
printf '%-40s %22s %22s %10s\n' "first run (lr $LR), start to end" "$(secs "$k1")" \
	"$(secs "$o1")" "$(ratio "$k1" "$o1")"
printf '%-40s %22s %22s\n' "  start Python, import TF, exit" \
	"$(secs "$(echo "$k1 - $(get keras1.out setup_s) - $(get keras1.out fit_s)" | bc -l)")" "-"
printf '%-40s %22s %22s\n' "  build VGG16, load weights / extract" \
	"$(secs "$(get keras1.out setup_s)")" "$(secs "$ex")"
printf '%-40s %22s %22s %10s\n' "  fit / train-head" \
	"$(secs "$(get keras1.out fit_s)")" "$(secs "$h1")" \
	"$(ratio "$(get keras1.out fit_s)" "$h1")"
printf '%-40s %22s %22s %10s\n' "    per epoch (median)" \
	"$(secs "$(get keras1.out s_per_epoch)")" "$(secs "$(get head1.time s_per_epoch)")" \
	"$(echo "$(get head1.time s_per_epoch)" | awk '$1 < 0.01 {print 0; next} 1' |
		{ read -r o; ratio "$(get keras1.out s_per_epoch)" "$o"; })"
printf '%-40s %22s %22s\n' "    outside the epochs" \
	"$(secs "$(get keras1.out between_epochs_s)")" "-"
printf '%-40s %22s %22s\n' "  final val_accuracy" "$(get keras1.out val_accuracy)" \
	"$(get head1.time val_accuracy)"
printf '%-40s %22s %22s %10s\n' "rerun (lr $LR2), start to end" "$(secs "$k2")" \
	"$(secs "$h2")" "$(ratio "$k2" "$h2")"
printf '%-40s %22s %22s\n' "  final val_accuracy" "$(get keras2.out val_accuracy)" \
	"$(get head2.time val_accuracy)"
t1=$(echo "$k1 + $k2" | bc -l) t2=$(echo "$o1 + $h2" | bc -l)
printf '%-40s %22s %22s %10s\n' "both runs" "$(secs "$t1")" "$(secs "$t2")" "$(ratio "$t1" "$t2")"
kc=$(echo "$(get keras1.time cpu_s) + $(get keras2.time cpu_s)" | bc -l)
oc=$(echo "$(get extract.time cpu_s) + $(get head1.time cpu_s) + $(get head2.time cpu_s)" | bc -l)
printf '%-40s %22s %22s %10s\n' "CPU time, both runs" "$(secs "$kc")" "$(secs "$oc")" \
	"$(ratio "$kc" "$oc")"
printf '%-40s %22s %22s\n' "peak RSS" "$(get keras1.time peak_rss_mb) MB" \
	"$(get extract.time peak_rss_mb) MB"
echo
for k in keras1 keras2; do
	echo "Keras' epochs, $([ $k = keras1 ] && echo "first run" || echo "rerun    "):" \
		"$(awk '/^epoch_s_/ {printf "%s ", $2}' "$TMP/$k.out")s;" \
		"outside them $(get $k.out between_epochs_s) s;" \
		"$(echo "$nimg $(get $k.out s_per_epoch)" | awk '{printf "%.2f", $1 / $2}') img/s in the median epoch"
done
echo "vggfeat extract: $(grep -o 'extracted.*' "$TMP/extract.err" | tail -1)"
echo "(The validation images differ: Keras holds out the first $VAL_SPLIT of each"
echo "class's files, train-head a hash-chosen $VAL_SPLIT of each class.)"
