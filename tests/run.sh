#!/usr/bin/env bash
# Runs each cmocka test binary given on the command line and ends with one
# line "N passed, N failed, N skipped" over all of them.  A binary that dies
# (signal, non-zero exit with no failure reported) counts as one failure.
set -u
passed=0 failed=0 skipped=0 broken=()
for t in "$@"; do
	echo "== $t"
	out=$("$t" 2>&1)
	rc=$?
	printf '%s\n' "$out"
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
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
done
for b in "${broken[@]+"${broken[@]}"}"; do echo "died: $b"; done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
