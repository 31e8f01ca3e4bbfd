#!/usr/bin/env bash
# pipeline.sh - the whole job in one command: build what is missing, extract
# the fc2 features of a face folder, train the softmax head, and write a
# report folder (head, history, training-curve picture).
#
#   ./pipeline.sh FACES_DIR [options]     your faces (FACES_DIR/<person>/...)
#   ./pipeline.sh [options]               the demo: synthetic faces and
#                                         synthetic (random) VGG16 weights
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

usage() {
	cat <<'USAGE'
usage: ./pipeline.sh [FACES_DIR] [options]

Runs extract (VGG16 fc2 features into an LMDB store) then train-head (the
softmax head, Keras semantics) and writes a report folder with the head,
the per-epoch history and a training-curve picture.  Without FACES_DIR it
runs a demo on generated faces and generated random weights.

options:
  --report DIR       the report folder (default: pipeline-report)
  --db PATH          the feature store (default: REPORT/feats.lmdb)
  extract:   --weights FILE  --model vgg16|vggface  --layer L  --pooling P
             --batch N  --limit N  --dtype f32|f16  --strict
  train-head: --epochs N  --lr X  --batch-size N  --beta1 X  --beta2 X
             --epsilon X  --val-split F  --seed N  --l2 X
  both:      --threads N  -q
  -h, --help         this text
USAGE
}

die() {
	echo "pipeline: error: $*" >&2
	exit 1
}

faces="" report="pipeline-report" db="" weights="" quiet=0
ext=() trn=()
while [ $# -gt 0 ]; do
	case "$1" in
	-h | --help) usage; exit 0 ;;
	--report | --db | --weights | --model | --layer | --pooling | --batch | --limit | \
		--dtype | --epochs | --lr | \
		--batch-size | --beta1 | --beta2 | --epsilon | --val-split | --seed | --l2 | \
		--threads)
		[ $# -ge 2 ] || die "$1 needs a value"
		case "$1" in
		--report) report=$2 ;;
		--db) db=$2 ;;
		--weights) weights=$2 ;;
		--model | --layer | --pooling | --batch | --limit | --dtype) ext+=("$1" "$2") ;;
		--threads) ext+=("$1" "$2"); trn+=("$1" "$2") ;;
		*) trn+=("$1" "$2") ;;
		esac
		shift 2 ;;
	--strict) ext+=("$1"); shift ;;
	-q | --quiet) quiet=1; ext+=(-q); trn+=(-q); shift ;;
	-*) usage >&2; die "unknown option '$1'" ;;
	*)
		[ -z "$faces" ] || die "one FACES_DIR only ('$faces' and '$1')"
		faces=$1; shift ;;
	esac
done
say() { [ "$quiet" = 1 ] || echo "pipeline: $*" >&2; }

# The Debian packages (as root; otherwise the apt-get line to run), then the
# programs, which make rebuilds only when their sources changed.
bash "$ROOT/.ci/deps.sh" pipeline || die "missing packages (see above)"
make -C "$ROOT" -s -j"$(nproc 2>/dev/null || echo 1)" all build/demo/gen_faces \
	build/demo/gen_weights >&2 ||
	die "the build failed"
bin=$ROOT/bin

mkdir -p "$report" || die "cannot create the report folder $report"
[ -n "$db" ] || db=$report/feats.lmdb

demo=0
if [ -z "$faces" ]; then
	demo=1
	faces=$report/demo-faces
	if [ -z "$weights" ]; then
		# --model vggface: the same random numbers in keras-vggface's layout.
		case " ${ext[*]-} " in
		*" --model vggface "*) layout=vggface ;;
		*) layout=official ;;
		esac
		weights=$ROOT/build/demo/random_seed1_$layout.h5
		if [ ! -f "$weights" ]; then
			mkdir -p "$(dirname "$weights")"
			say "generating random weights in the $layout layout: $weights"
			"$ROOT/build/demo/gen_weights" --seed 1 --layout $layout \
				--out "$weights.tmp" &&
				mv "$weights.tmp" "$weights" || die "could not generate $weights"
		fi
	fi
	[ -d "$faces" ] || "$ROOT/build/demo/gen_faces" --out "$faces" --people 6 --images 12 ||
		die "could not generate the demo faces"
	cat >&2 <<NOTE
pipeline: DEMO. No FACES_DIR was given, so this runs on 6 generated cartoon
pipeline: people (12 images each) with RANDOM VGG16 weights: the accuracy shows
pipeline: that the plumbing works, not face recognition.  For real use, put
pipeline: Keras' vgg16_weights_tf_dim_ordering_tf_kernels.h5 in ~/.keras/models/
pipeline: (or set VGG16_WEIGHTS, or pass --weights) and run
pipeline:   ./pipeline.sh FACES_DIR      with FACES_DIR/<person>/<images>
NOTE
	# The demo's few images train in a few epochs at a higher rate.
	case " ${trn[*]-} " in *" --epochs "*) ;; *) trn+=(--epochs 20) ;; esac
	case " ${trn[*]-} " in *" --lr "*) ;; *) trn+=(--lr 1e-3) ;; esac
fi
[ -n "$weights" ] && ext=(--weights "$weights" "${ext[@]}")

say "1/3 extract: $faces -> $db"
"$bin/extract" --in "$faces" --db "$db" "${ext[@]}" || die "extract failed"

say "2/3 train-head: $db -> $report/head.h5"
"$bin/train-head" --db "$db" --out "$report/head.h5" \
	--history "$report/history.csv" "${trn[@]}" || die "train-head failed"

say "3/3 training curves: $report/training.png"
# The history is what Keras' CSVLogger writes (columns by name, NA for
# validation values when there is no validation set); a sweep writes one
# file per run, history.runN.csv, drawn one line each.
hists=("$report/history.csv")
[ -f "${hists[0]}" ] || mapfile -t hists < <(ls "$report"/history.run*.csv | sort -V)
has_val=0
sed -n 2p "${hists[0]}" | grep -qv ',NA,NA' && has_val=1
loss_plot="" acc_plot=""
for h in "${hists[@]}"; do
	run=$(basename "$h" .csv | sed -n 's/^history\.run/run /p')
	[ -n "$loss_plot" ] && loss_plot+=", " acc_plot+=", "
	if [ ${#hists[@]} -gt 1 ]; then
		metric=accuracy
		[ "$has_val" = 1 ] && metric=val_accuracy
		loss_plot+="'$h' using 'epoch':'loss' with linespoints lw 2 title '$run'"
		acc_plot+="'$h' using 'epoch':'$metric' with linespoints lw 2 title '$run $metric'"
		continue
	fi
	loss_plot+="'$h' using 'epoch':'loss' with linespoints lw 2 title 'train'"
	acc_plot+="'$h' using 'epoch':'accuracy' with linespoints lw 2 title 'train'"
	if [ "$has_val" = 1 ]; then
		loss_plot+=", '' using 'epoch':'val_loss' with linespoints lw 2 title 'validation'"
		acc_plot+=", '' using 'epoch':'val_accuracy' with linespoints lw 2 title 'validation'"
	fi
done
title="train-head on $(basename "$faces")"
[ "$demo" = 1 ] && title="$title (demo: random weights, synthetic faces)"
gnuplot <<PLOT || die "gnuplot failed"
set terminal pngcairo size 1000,420 noenhanced
set output '$report/training.png'
set datafile separator ','
set datafile missing 'NA'
set multiplot layout 1,2 title '$title'
set xlabel 'epoch (from 0, as Keras counts them)'
set grid
set key bottom left
set title 'loss'
plot $loss_plot
set title 'accuracy'
set key bottom right
set yrange [0:1.05]
plot $acc_plot
unset multiplot
PLOT

say "done: $report/head.h5 (the head), ${hists[*]}, $report/training.png"
if [ "$demo" = 1 ]; then
	one=$(find "$faces" -name '*.jpg' | sort | head -n 1)
	say "who is in $one? (predict --head $report/head.h5 --weights $weights --top-k 3 $one)"
	"$bin/predict" --head "$report/head.h5" --weights "$weights" --top-k 3 -q "$one" ||
		die "predict failed"
fi
