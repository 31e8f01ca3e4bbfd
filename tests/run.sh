#!/usr/bin/env bash
# Runs each cmocka test binary given on the command line and ends with one
# line "N passed, N failed, N skipped" over all of them.  A binary that dies
# (signal, non-zero exit with no failure reported) counts as one failure.
# With $SANITIZER_LOGS set (make test-asan), each sanitizer report written
# there while a binary ran (by it or by a program it started) is shown and
# counts as one failure too.  When the real weights could not be made
# (tests/real_weights.sh), the reason is repeated before the count, and
# when a test ran out of disk, how much there was when the run began.
set -u
passed=0 failed=0 skipped=0 broken=() full=0
# Megabytes free where the tests write: their folders under /tmp, and the
# build tree.
free_mb() { df -Pm "$1" 2>/dev/null | awk 'NR == 2 { print $4 }'; }
tmp_free=$(free_mb /tmp) build_free=$(free_mb .)
if [ -n "$tmp_free" ] && [ "$tmp_free" -lt 2600 ]; then
	echo "warning: /tmp has $tmp_free MB free; the tests need about 2.5 GB" \
		"there at their peak (docs/development.md)"
fi
for t in "$@"; do
	echo "== $t"
	start=$SECONDS
	out=$("$t" 2>&1)
	rc=$?
	printf '%s\n' "$out"
	echo "== $t: $((SECONDS - start)) s"
	# Count the per-test lines of each group's run section (cmocka repeats
	# failed and skipped names in its summary, which must not count twice).
	read -r p f s < <(awk '
		/^\[==========\] .* test\(s\) run\./ { run = 0; next }
		/^\[==========\] Running/ { run = 1; next }
		run && /^\[       OK \]/ { p++ }
		run && /^\[  FAILED  \]/ { f++ }
		run && /^\[  ERROR   \] [^-]/ { f++ }
		run && /^\[  SKIPPED \]/ { s++ }
		END { print p + 0, f + 0, s + 0 }' <<<"$out")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
		broken+=("$t (exit $rc)")
	fi
	if [ -n "${SANITIZER_LOGS:-}" ]; then
		for log in "$SANITIZER_LOGS"/*; do
			case $log in *.seen) continue ;; esac
			[ -f "$log" ] || continue
			echo "== sanitizer report ($log):"
			cat "$log"
			mv "$log" "$log.seen"
			f=$((f + 1))
			broken+=("$t (sanitizer report $log)")
		done
	fi
	# The fault tests fill disks on purpose: only a binary that failed
	# counts, when its output says the disk was full.
	if [ "$f" -gt 0 ]; then
		case $out in *"No space left on device"*) full=1 ;; esac
	fi
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
done
for b in "${broken[@]+"${broken[@]}"}"; do echo "died: $b"; done
# The tests on the real weights skip when tests/real_weights.sh could not
# make them: say so again, with why, next to the count.
if [ -f "${REAL_WEIGHTS_DIR:-build/real-weights}/SKIPPED" ]; then
	echo "real weights: their tests were skipped: $(cat "${REAL_WEIGHTS_DIR:-build/real-weights}/SKIPPED")"
fi
if [ "$full" -eq 1 ]; then
	echo "disk: a test ran out of space; when the run began, /tmp had" \
		"${tmp_free:-?} MB free and the build tree ${build_free:-?} MB" \
		"(make test needs about 2.5 GB in /tmp: docs/development.md)"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
