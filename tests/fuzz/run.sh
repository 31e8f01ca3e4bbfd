#!/usr/bin/env bash
# tests/fuzz/run.sh SECONDS TARGET... - what `make fuzz` runs.
# (SECONDS 0: only replay what the last run saved.)
#
# Runs each libFuzzer target (build-fuzz/<name>) for SECONDS from its seeds
# (tests/fuzz/corpus/<name>/) and what earlier runs kept
# (build-fuzz/corpus/<name>/), in libFuzzer's fork mode so that one crash
# does not end the search, then replays every crash, hang and leak it saved
# (build-fuzz/<name>-crash-*, -timeout-*, -oom-*, -leak-*):
#  - a failure whose innermost frame (below libFuzzer's and the C library's)
#    is in the HDF5 library is a bug of libhdf5 on a malformed file: listed,
#    but not ours to fix (see the report it prints);
#  - any other is a bug here: the run fails;
#  - an input that does not fail when replayed alone is listed.
# Prints per target the executions, the coverage and the findings.
set -u
# A huge allocation (HDF5 believes sizes it reads) fails as malloc does
# outside the sanitizer, instead of counting as a crash.
export ASAN_OPTIONS=allocator_may_return_null=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}
secs=$1
shift
status=0
for t in "$@"; do
	name=$(basename "$t")
	mkdir -p "build-fuzz/corpus/$name"
	log=build-fuzz/$name.log
	if [ "$secs" -gt 0 ]; then
		rm -f "build-fuzz/$name"-crash-* "build-fuzz/$name"-timeout-* \
			"build-fuzz/$name"-oom-* "build-fuzz/$name"-leak-*
		"$t" -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
			-max_total_time="$secs" -rss_limit_mb=4096 -timeout=20 \
			-artifact_prefix="build-fuzz/$name-" \
			"build-fuzz/corpus/$name" "tests/fuzz/corpus/$name" >"$log" 2>&1
	fi
	last=$(grep -E '^#[0-9]+: cov:' "$log" | tail -1)
	echo "== $name, ${secs} s: ${last:-no progress line (see $log)}"
	lib=0 ours=0 flaky=0
	for a in "build-fuzz/$name"-crash-* "build-fuzz/$name"-timeout-* \
		"build-fuzz/$name"-oom-* "build-fuzz/$name"-leak-*; do
		[ -f "$a" ] || continue
		trace=$("$t" -timeout=20 -rss_limit_mb=4096 "$a" 2>&1)
		if [ $? -eq 0 ]; then
			flaky=$((flaky + 1))
			echo "   does not fail alone: $a"
			continue
		fi
		# The first frame that is neither the C library's nor in the
		# fuzz binary without a source line (libFuzzer, the sanitizers'
		# interceptors such as malloc).
		frame=$(grep -E '^ +#[0-9]+ ' <<<"$trace" |
			grep -vE 'libc\.so|sysdeps/|csu/|\(/[^)]*build-fuzz/[^)]*\+0x' |
			head -1)
		if grep -q 'libhdf5' <<<"$frame"; then
			lib=$((lib + 1))
			echo "   libhdf5: $a: ${frame#*#}"
		else
			ours=$((ours + 1))
			status=1
			echo "   OURS: $a:"
			grep -E 'ERROR|SUMMARY|^ +#[0-9]+ ' <<<"$trace" | head -20
		fi
	done
	echo "   findings: $ours in this project's code, $lib in libhdf5," \
		"$flaky not failing alone"
done
exit $status
