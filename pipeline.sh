#!/usr/bin/env bash
# pipeline.sh - the whole job in one command: build what is missing, extract
# the fc2 features of a face folder, train the softmax head, and write a
# report folder (head, history, training-curve picture).  Options as the C
# programs take them (--opt value or --opt=value); each goes to the stages
# that have it.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PROG=pipeline.sh

usage() {
	cat <<'USAGE'
usage: ./pipeline.sh [FACES_DIR] [options]

Runs extract (VGG16's fc2 features into an LMDB store), then train-head (the
softmax head, with Keras' semantics), and writes a report folder: the head,
the per-epoch history (Keras' CSVLogger file) and training.png, the curves.
FACES_DIR holds one folder of images per person (FACES_DIR/<person>/...).
Without FACES_DIR it runs a demo on generated faces and generated random
weights, and ends by asking predict who is in a photo it did not train on.

the pipeline:
  --report DIR        the report folder (default: pipeline-report)
  --db PATH           the feature store (default: REPORT/feats.lmdb)
  --in DIR            FACES_DIR, as extract names it
  --out FILE          the head (default: REPORT/head.h5)
  --history FILE      the history (default: REPORT/history.csv)
  -q, --quiet         no progress or notes from any stage: the errors, the
                      results and the last line
  -h, --help          this text
  --help-dev          the variables for development and tests
  --version           print the version

extract (extract --help says more):
  --weights FILE  --model vgg16|vggface  --layer L  --pooling P  --batch N
  --decode-threads N  --limit N  --dtype f32|f16  --conv winograd|direct
  --follow-links  --strict
train-head (train-head --help):
  --epochs N  --lr X[,X...]  --batch-size N[,N...]  --beta1 X  --beta2 X
  --epsilon X  --l2 X  --hidden K  --dropout X  --label-smoothing X
  --class-weight W  --lr-schedule S  --patience N  --monitor M  --min-delta X
  --restore-best  --reduce-lr F  --reduce-lr-patience N  --min-lr X
  --val-split F  --test-split F  --confusion FILE  --keep F  --seed N
predict, in the demo (predict --help):
  --top-k N  --min-prob P  (and --weights, --model, --batch)
every stage:
  --threads N         compute threads (default: each program's, one per CPU)
USAGE
}

# A usage error: what is wrong and the way to the help, status 2, as the C
# programs report theirs.
usage_error() {
	printf '%s: %s\nTry '\''%s --help'\''.\n' "$PROG" "$1" "$0" >&2
	exit 2
}
die() {
	echo "$PROG: error: $*" >&2
	exit 1
}
say() { [ "$quiet" = 1 ] || echo "$PROG: $*" >&2; }

# ---- the command line --------------------------------------------------------
faces="" report="pipeline-report" db="" head="" history="" weights="" quiet=0
ext=() trn=() prd=() operands=() demo_only=()
while [ $# -gt 0 ]; do
	arg=$1
	shift
	case "$arg" in
	--) operands+=("$@"); break ;;
	--*=*) opt=${arg%%=*} value=${arg#*=} given=1 ;;
	-?*) opt=$arg value="" given=0 ;;
	*) operands+=("$arg"); continue ;;
	esac
	case "$opt" in
	--report | --db | --in | --out | --history | --weights | --model | --layer | \
		--pooling | --batch | --decode-threads | --limit | --dtype | --conv | \
		--threads | --epochs | --lr | \
		--batch-size | --beta1 | --beta2 | --epsilon | --l2 | --val-split | --keep | \
		--seed | --top-k | --min-prob | --hidden | --dropout | --label-smoothing | \
		--class-weight | --lr-schedule | --patience | --monitor | --min-delta | \
		--reduce-lr | --reduce-lr-patience | --min-lr | --test-split | --confusion)
		if [ "$given" = 0 ]; then
			[ $# -gt 0 ] || usage_error "option $opt needs a value"
			value=$1
			shift
		fi ;;
	-h | --help | --help-dev | --version | -q | --quiet | --follow-links | --strict | \
		--restore-best)
		[ "$given" = 0 ] || usage_error "option $opt takes no value" ;;
	*) usage_error "unknown option $arg" ;;
	esac
	# Where each goes: the pipeline's own, then extract (ext), train-head
	# (trn) and predict (prd), as each program names it.
	case "$opt" in
	-h | --help) usage; exit 0 ;;
	--help-dev)
		echo "$PROG: for development and tests (docs/development.md)"
		echo
		echo "  $PROG has none of its own; the stages read theirs from the"
		echo "  environment (extract --help-dev, train-head --help-dev,"
		echo "  predict --help-dev)."
		exit 0 ;;
	--version)
		echo "$PROG $(sed -n 's/^#define VGGFEAT_VERSION "\(.*\)"/\1/p' \
			"$ROOT/common/version.h")"
		exit 0 ;;
	--report) report=$value ;;
	--db) db=$value ;;
	--in) operands+=("$value") ;;
	--out) head=$value ;;
	--history) history=$value ;;
	--weights) weights=$value ;;
	-q | --quiet) quiet=1 ;;
	--model | --batch) ext+=("$opt" "$value") prd+=("$opt" "$value") ;;
	--layer | --pooling | --decode-threads | --limit | --dtype | --conv)
		ext+=("$opt" "$value") ;;
	--follow-links | --strict) ext+=("$opt") ;;
	--threads) ext+=("$opt" "$value") trn+=("$opt" "$value") prd+=("$opt" "$value") ;;
	--top-k | --min-prob) prd+=("$opt" "$value") demo_only+=("$opt") ;;
	--restore-best) trn+=("$opt") ;;
	*) trn+=("$opt" "$value") ;;
	esac
done
case ${#operands[@]} in
0) ;;
1) faces=${operands[0]} ;;
*) usage_error "one FACES_DIR only ('${operands[0]}' and '${operands[1]}')" ;;
esac
# Before anything is built or written (no report folder left behind).
[ -z "$faces" ] || [ -d "$faces" ] ||
	die "$faces: no such folder (FACES_DIR holds one folder of images per person)"
[ -z "$faces" ] || [ ${#demo_only[@]} = 0 ] ||
	echo "$PROG: note: ignored: ${demo_only[*]} (for the demo's predict; a run" \
		"on FACES_DIR predicts nothing)" >&2
if [ "$quiet" = 1 ]; then
	ext+=(-q) trn+=(-q) prd+=(-q)
fi
[ -n "$db" ] || db=$report/feats.lmdb
[ -n "$head" ] || head=$report/head.h5
[ -n "$history" ] || history=$report/history.csv

# Nothing the pipeline writes may lie inside FACES_DIR: the next run's
# extract would read it as a person (a folder) or as images (the PNG).
inside() { # path folder: whether path lies in folder (neither need exist)
	local p d
	p=$(realpath -m -- "$1") && d=$(realpath -m -- "$2") &&
		{ [ "$p" = "$d" ] || [ "${p#"$d"/}" != "$p" ]; }
}
why="the next run would read it as a person's folder or images"
for opt in --report --db --out --history; do
	case $opt in
	--report) path=$report ;; --db) path=$db ;;
	--out) path=$head ;; --history) path=$history ;;
	esac
	[ -z "$faces" ] || ! inside "$path" "$faces" ||
		usage_error "$opt $path is inside FACES_DIR $faces: $why; give a path outside it"
done

# ---- the picture ---------------------------------------------------------------
# training.gp, for gnuplot: loss and accuracy per epoch, the epochs counted
# from 1 as train-head's "Epoch 1/5" lines count them (the CSV counts from 0,
# as Keras' CSVLogger does) on whole-number tics, the keys below the panels,
# the best val_accuracy marked.  A sweep (train-head's table in its output)
# draws one curve per run, named by the settings that vary: validation
# solid, training dashed.

# run_history: the history file of run $2 of a sweep, as train-head names it
# (th_history_run_path: ".runN" before the extension of the file's name).
run_history() {
	local dir="" base=$1
	case "$1" in */*) dir=${1%/*}/ base=${1##*/} ;; esac
	case "$base" in
	?*.*) echo "$dir${base%.*}.run$2.${base##*.}" ;;
	*) echo "$dir$base.run$2" ;;
	esac
}

# sweep_runs: "run<TAB>settings" for each run of a sweep, from the table in
# train-head's output (its header names the options that vary, from column
# 2 to the one before "epoch"; the run is a row's last column); nothing for
# a single run.
sweep_runs() {
	awk '/^rank / {
		table = 1
		for (k = 2; k <= NF && $k != "epoch"; k++)
			name[k] = $k
		last = k - 1
		next
	}
	table && NF {
		s = ""
		for (k = 2; k <= last; k++)
			s = s (s ? ", " : "") name[k] " " $k
		print $NF "\t" s
	}' "$1" | sort -n
}

# A gnuplot string: single quotes, a quote doubled.
gp_str() { printf "'%s'" "${1//\'/\'\'}"; }

# write_plot writes the script ($3) for the history ($1) and train-head's
# output ($2) under the title $4, and sets plotted: the history files.
write_plot() {
	local files=() names=() run settings i f
	while IFS=$'\t' read -r run settings; do
		files+=("$(run_history "$1" "$run")")
		names+=("run $run: $settings")
	done < <(sweep_runs "$2")
	[ ${#files[@]} -gt 0 ] || files=("$1")
	for f in "${files[@]}"; do
		[ -s "$f" ] || die "no history file $f"
	done
	plotted=${files[*]}
	# The script runs in its own folder: the files as named from there.
	local here there=()
	here=$(realpath -m "$(dirname "$3")")
	for f in "${files[@]}"; do
		f=$(realpath -m "$f")
		case "$f" in "$here"/*) there+=("${f#"$here"/}") ;; *) there+=("$f") ;; esac
	done
	local epochs=$(($(wc -l <"${files[0]}") - 1)) step has_val=0
	for step in 1 2 5 10 20 50 100 200 500 1000 2000 5000 10000 20000 50000 100000; do
		[ $((epochs / step)) -gt 12 ] || break
	done
	sed -n 2p "${files[0]}" | grep -q ',NA,NA' || has_val=1
	# The best val_accuracy of every run and epoch (a tie goes to the lower
	# val_loss, then to the first): file index, epoch from 1, value.
	local best=""
	[ "$has_val" = 0 ] || best=$(awk -F, 'FNR == 1 { file++ }
		FNR > 1 && (!seen || $4 > a || ($4 == a && $5 < l)) {
			seen = 1; a = $4; l = $5; best = (file - 1) "," ($1 + 1) "," $4 }
		END { print best }' "${files[@]}")
	# The curves of each panel, and the key's entries (drawn apart, below
	# both panels, so that no key hides a curve).
	local x="(column('epoch') + 1)" loss="" acc="" key="" sweep=${#names[@]} lt
	for i in "${!files[@]}"; do
		f=$(gp_str "${there[$i]}")
		lt=$((i + 1))
		[ -z "$loss" ] || loss+=", " acc+=", " key+=", "
		if [ "$sweep" = 0 ]; then
			loss+="$f using $x:'loss' with linespoints lt 1 lw 2"
			acc+="$f using $x:'accuracy' with linespoints lt 1 lw 2"
			key+="NaN with linespoints lt 1 lw 2 title 'training"
			[ "$has_val" = 1 ] || key+=" (no validation set)"
			key+="'"
			if [ "$has_val" = 1 ]; then
				loss+=", '' using $x:'val_loss' with linespoints lt 2 lw 2"
				acc+=", '' using $x:'val_accuracy' with linespoints lt 2 lw 2"
				key+=", NaN with linespoints lt 2 lw 2 title 'validation'"
			fi
		elif [ "$has_val" = 1 ]; then
			loss+="$f using $x:'val_loss' with linespoints lt $lt lw 2"
			loss+=", '' using $x:'loss' with lines lt $lt dt 2"
			acc+="$f using $x:'val_accuracy' with linespoints lt $lt lw 2"
			acc+=", '' using $x:'accuracy' with lines lt $lt dt 2"
			key+="NaN with linespoints lt $lt lw 2 title $(gp_str "${names[$i]}")"
		else
			loss+="$f using $x:'loss' with linespoints lt $lt lw 2"
			acc+="$f using $x:'accuracy' with linespoints lt $lt lw 2"
			key+="NaN with linespoints lt $lt lw 2 title $(gp_str "${names[$i]}")"
		fi
	done
	local entries=$((sweep ? sweep : 1 + has_val))
	if [ "$sweep" != 0 ] && [ "$has_val" = 1 ]; then
		key+=", NaN with lines lc rgb 'gray40' dt 2 title 'dashed: training'"
		entries=$((entries + 1))
	fi
	if [ -n "$best" ]; then
		local best_file best_epoch best_value where
		IFS=, read -r best_file best_epoch best_value <<<"$best"
		where="epoch $best_epoch"
		[ "$sweep" = 0 ] || where="${names[$best_file]%%:*}, epoch $best_epoch"
		acc+=", \$best using 1:2 with points pt 6 ps 3 lw 2 lc rgb 'black'"
		key+=", NaN with points pt 6 ps 2 lw 2 lc rgb 'black' title $(gp_str \
			"best val_accuracy $(printf %.4f "$best_value") ($where)")"
		entries=$((entries + 1))
	fi
	# The key's rows of 3 entries, and the height it takes at the bottom.
	local rows=$(((entries + 2) / 3)) bottom
	bottom=$(awk -v r="$rows" 'BEGIN { printf "%.3f", 0.03 + 0.045 * r }')
	local tics="1,1,$epochs"
	[ "$step" = 1 ] || tics="$step,$step,$epochs"
	cat >"$3" <<PLOT
# train-head's curves, written by pipeline.sh; to draw them again, in
# this folder:
#   gnuplot -e "set terminal pngcairo size 1200,560; set output 'x.png'" $(basename "$3")
\$best << EOD
${best#*,}
EOD
set datafile separator ','
set datafile missing 'NA'
set multiplot title $(gp_str "$4")
set grid
unset key
set xlabel 'epoch'
set xrange [0.5:$epochs + 0.5]
set xtics $tics
unset mxtics
set size 0.5, 0.93 - $bottom
set origin 0, $bottom
set title 'loss'
plot $loss
set origin 0.5, $bottom
set title 'accuracy'
set yrange [0:1.05]
plot $acc
# The key, below both panels.
set size 1, $bottom
set origin 0, 0
unset title
unset xlabel
unset grid
unset border
unset tics
set xrange [0:1]
set yrange [0:1]
set key center center horizontal maxcols 3 width 2
plot $key
unset multiplot
PLOT
}

# ---- what the pipeline needs -------------------------------------------------
# The Debian packages of the build and gnuplot, nothing the tests or `make
# install` need (as root; otherwise the one apt-get line to run), then the
# programs, which make rebuilds only when their sources changed.
bash "$ROOT/.ci/deps.sh" pipeline || die "missing packages (see above)"
make -C "$ROOT" -s -j"$(nproc 2>/dev/null || echo 1)" all build/demo/gen_faces \
	build/demo/gen_weights >&2 ||
	die "the build failed"
bin=$ROOT/bin

# A value or a combination a stage refuses is a usage error now, before
# any stage has run (its first line, which names the program and the
# option): extract and train-head check their whole command line, options
# against each other too (--check-options: nothing read or written);
# predict, run only in the demo on options alone, reads its options in
# order and stops at --help.
check_options() { # the option that ends the check, program, its options
	local why
	why=$("$bin/$2" "${@:3}" "$1" 2>&1 >/dev/null) ||
		usage_error "${why%%$'\n'*}"
}
check_options --check-options extract --in "${faces:-$report/demo-faces}" --db "$db" \
	"${ext[@]}"
check_options --check-options train-head --db "$db" --out "$head" --history "$history" \
	"${trn[@]}"
check_options --help predict "${prd[@]}"

mkdir -p "$report" || die "cannot create the report folder $report"

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
			# A temporary file of this run's own: two demos at once
			# must not write one file.
			"$ROOT/build/demo/gen_weights" --seed 1 --layout $layout \
				--out "$weights.tmp.$$" &&
				mv "$weights.tmp.$$" "$weights" ||
				{ rm -f "$weights.tmp.$$"; die "could not generate $weights"; }
		fi
	fi
	# A 13th image of each person, never trained on, is the photo that
	# predict is asked about at the end.
	photos=$report/demo-photos
	if [ ! -d "$faces" ] || [ ! -d "$photos" ]; then
		"$ROOT/build/demo/gen_faces" --out "$faces" --people 6 --images 13 &&
			mkdir -p "$photos" || die "could not generate the demo faces"
		for person in "$faces"/*/; do
			person=${person%/}
			mv "$person/013.jpg" "$photos/${person##*/}.jpg" ||
				die "could not set aside the demo photos"
		done
	fi
	[ "$quiet" = 1 ] || cat >&2 <<NOTE
$PROG: DEMO. No FACES_DIR was given, so this runs on 6 generated cartoon
$PROG: people (12 images each) with RANDOM VGG16 weights: the accuracy shows
$PROG: that the plumbing works, not face recognition.  For real use, put
$PROG: Keras' vgg16_weights_tf_dim_ordering_tf_kernels.h5 in ~/.keras/models/
$PROG: (or set VGG16_WEIGHTS, or pass --weights) and run
$PROG:   ./pipeline.sh FACES_DIR      with FACES_DIR/<person>/<images>
NOTE
	# The demo's few images train in a few epochs at a higher rate.
	case " ${trn[*]-} " in *" --epochs "*) ;; *) trn+=(--epochs 20) ;; esac
	case " ${trn[*]-} " in *" --lr "*) ;; *) trn+=(--lr 1e-3) ;; esac
fi
if [ -n "$weights" ]; then
	ext=(--weights "$weights" "${ext[@]}")
	prd=(--weights "$weights" "${prd[@]}")
fi

# ---- the stages --------------------------------------------------------------
say "1/3 extract: $faces -> $db"
"$bin/extract" --in "$faces" --db "$db" "${ext[@]}" || die "extract failed"

say "2/3 train-head: $db -> $head"
# A picture of an earlier run must not outlive a failed one.
rm -f "$report/training.png" "$report/training.gp"
# Its standard output (the epochs, a sweep's table) is kept for the picture.
"$bin/train-head" --db "$db" --out "$head" --history "$history" "${trn[@]}" |
	tee "$report/train-head.txt" || die "train-head failed"

say "3/3 training curves: $report/training.png"
title="train-head on $(basename "$faces")"
[ "$demo" = 0 ] || title+=" (demo: random weights, synthetic faces)"
write_plot "$history" "$report/train-head.txt" "$report/training.gp" "$title"
(cd "$report" && gnuplot -e "set terminal pngcairo size 1200,560 noenhanced" \
	-e "set output 'training.png'" training.gp) || die "gnuplot failed"

if [ "$demo" = 1 ]; then
	one=$photos/person_01.jpg
	say "who is in $one? (predict --head $head --top-k 3 ...)"
	"$bin/predict" --head "$head" --top-k 3 "${prd[@]}" "$one" ||
		die "predict failed"
fi
echo "$PROG: done: $head (the head), $plotted, $report/training.png" >&2
