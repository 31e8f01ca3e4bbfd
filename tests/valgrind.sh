#!/usr/bin/env bash
# valgrind.sh - `make test-valgrind`: valgrind's memcheck over the plain
# (-O2 -g) build, in two parts:
#   1. the cmocka test binaries given on the command line; those after
#      --trace-children run with the programs they start under memcheck too
#      (their tests drive featdb and train-head through their error paths);
#   2. each program on one small end-to-end job: extract on 3 generated
#      faces (plus a broken file, and a rerun that adds a person), featdb
#      info/verify/export/merge on the store, train-head for 2 epochs,
#      predict on one image (plus the broken file).
# Each check (one test binary, or one program run) passes when it exits as
# expected and no process it ran under memcheck reported an error: an
# invalid read or write, a decision on an uninitialised value, a bad or
# double free, an overlapping copy, or a definite or indirect leak.  Ends
# with one line "N passed, N failed".
#
#   bash tests/valgrind.sh TEST... [--trace-children TEST...]
#
# Environment: VGGFEAT_BIN (bin), VGGFEAT_TOOLS (build/demo), TEST_WEIGHTS
# (build/test-data/vgg16_seed1.h5), VALGRIND_DIR (build/valgrind: the logs,
# NAME.PID.log per process, and the job's files); valgrind itself reads
# VALGRIND_OPTS, e.g. VALGRIND_OPTS=--track-origins=yes to see where an
# uninitialised value came from (about 3x slower, so not the default).
set -u
cd "$(dirname "$0")/.." || exit 1
BIN=${VGGFEAT_BIN:-bin}
TOOLS=${VGGFEAT_TOOLS:-build/demo}
WEIGHTS=${TEST_WEIGHTS:-build/test-data/vgg16_seed1.h5}
DIR=${VALGRIND_DIR:-build/valgrind}
LOGS=$DIR/logs
WORK=$DIR/work
export TEST_WEIGHTS=$WEIGHTS VGGFEAT_BIN=$BIN VGGFEAT_TOOLS=$TOOLS

if ! command -v valgrind >/dev/null; then
	echo "valgrind.sh: valgrind is missing (Debian: apt-get install valgrind)" >&2
	exit 1
fi
rm -rf "$DIR" && mkdir -p "$LOGS" "$WORK" || exit 1

# Memcheck runs vector FMA instructions lane by lane, very slowly: one
# VGG16 forward by im2col took some 14 CPU minutes in OpenBLAS's Haswell
# sgemm and under a minute in its Sandy Bridge one (AVX, no FMA).  Which
# kernel OpenBLAS picks is no concern of this check; our own AVX2 kernels
# (Winograd, head) still run as they do everywhere else.
if [ -z "${OPENBLAS_CORETYPE:-}" ] && grep -qw avx /proc/cpuinfo; then
	export OPENBLAS_CORETYPE=Sandybridge
fi

VG=(valgrind --tool=memcheck --error-exitcode=99 --leak-check=full
	--show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect
	--num-callers=40 --suppressions=tests/valgrind.supp)
# Children the tests start through the shell or coreutils (rm -rf, sh -c)
# are not ours: they run without memcheck.
SKIP='/bin/*,/usr/bin/*,/usr/local/bin/*,/usr/sbin/*,/sbin/*'

passed=0 failed=0 lines=()
start=$SECONDS

# check NAME STATUS [--children] CMD...: runs CMD under memcheck, its output
# in LOGS/NAME.out and each process's report in LOGS/NAME.PID.log; NAME
# passes when CMD exits with STATUS and no report counts an error.
check() {
	local name=$1 want=$2 trace=()
	shift 2
	if [ "$1" = --children ]; then
		trace=(--trace-children=yes "--trace-children-skip=$SKIP")
		shift
	fi
	local t0=$SECONDS why= rc n log bad=()
	echo "== $name: $*"
	"${VG[@]}" "${trace[@]}" --log-file="$LOGS/$name.%p.log" "$@" \
		>"$LOGS/$name.out" 2>&1 </dev/null
	rc=$?
	for log in "$LOGS/$name".*.log; do
		[ -f "$log" ] || continue
		n=$(sed -n 's/^==[0-9]*== ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$log")
		[ "${n:-0}" -gt 0 ] && bad+=("$log")
	done
	[ "$rc" -eq "$want" ] || why="exit $rc, expected $want"
	[ ${#bad[@]} -eq 0 ] ||
		why+="${why:+; }memcheck errors in ${#bad[@]} process(es)"
	if [ -z "$why" ]; then
		passed=$((passed + 1))
		lines+=("ok      $name ($((SECONDS - t0)) s)")
	else
		failed=$((failed + 1))
		lines+=("FAILED  $name: $why ($((SECONDS - t0)) s)")
		echo "-- output ($LOGS/$name.out, last 40 lines):"
		tail -n 40 "$LOGS/$name.out"
		for log in "${bad[@]+"${bad[@]}"}"; do
			echo "-- memcheck report $log:"
			grep -v 'Warning: set address range perms' "$log"
		done
	fi
	echo "${lines[-1]}"
}

# ---- 1. test binaries ---------------------------------------------------
children=
for t in "$@"; do
	if [ "$t" = --trace-children ]; then
		children=--children
		continue
	fi
	check "$(basename "$t")" 0 $children "$t"
done

# ---- 2. the programs on a small job --------------------------------------
# Faces: train/person_01 and valid/person_01, one image each, 100x120 so
# that they are resized; then train/person_00 for the rerun, which sorts
# first and so renumbers the stored records' classes.  broken.jpg is a
# JPEG cut short: extract and predict skip it with its reason.
faces=$WORK/faces db=$WORK/feats.lmdb
gen() { # gen SEED DIR: one person, one image, at DIR
	"$TOOLS/gen_faces" --out "$WORK/gen$1" --people 1 --images 1 --seed "$1" \
		--size 100x120 >/dev/null && mkdir -p "$(dirname "$2")" &&
		mv "$WORK/gen$1/person_01" "$2"
}
if ! gen 1 "$faces/train/person_01" || ! gen 2 "$faces/valid/person_01" ||
	! head -c 300 "$faces/train/person_01/001.jpg" >"$faces/train/person_01/broken.jpg"; then
	echo "valgrind.sh: cannot generate the faces with $TOOLS/gen_faces" >&2
	exit 1
fi
one=$faces/valid/person_01/001.jpg
broken=$faces/train/person_01/broken.jpg

# --conv direct: im2col and OpenBLAS (fast under memcheck, see above);
# predict has no such option and runs the Winograd kernels, several minutes.
check extract 0 "$BIN/extract" --in "$faces" --db "$db" --weights "$WEIGHTS" \
	--batch 1 --conv direct -q
gen 3 "$faces/train/person_00" || exit 1
check extract-rerun 0 "$BIN/extract" --in "$faces" --db "$db" \
	--weights "$WEIGHTS" --batch 1 --conv direct -q
check featdb-info 0 "$BIN/featdb" info "$db"
check featdb-verify 0 "$BIN/featdb" verify "$db"
check featdb-export 0 "$BIN/featdb" export "$db" --out "$WORK/feats.h5"
check featdb-merge 0 "$BIN/featdb" merge "$WORK/merged.lmdb" "$db"
check train-head 0 "$BIN/train-head" --db "$db" --epochs 2 --batch-size 2 \
	--lr 1e-3 --threads 2 --out "$WORK/head.h5" --history "$WORK/history.csv" -q
check predict 0 "$BIN/predict" --head "$WORK/head.h5" --weights "$WEIGHTS" \
	--top-k 2 "$one" "$broken"

echo "== summary ($((SECONDS - start)) s; logs in $LOGS)"
printf '%s\n' "${lines[@]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
