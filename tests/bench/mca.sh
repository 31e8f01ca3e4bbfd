#!/usr/bin/env bash
# mca.sh - the microkernels' inner loops through llvm-mca (dev-only; Debian:
# apt-get install llvm-16, whose llvm-mca-16 knows sapphirerapids and
# znver4): for each register shape of the convolutions' microkernel
# (kern_conv.h, MR rows by NRV vectors) and of fc's tile (kern_gemm.h, R
# rows by V vectors), the loop GCC makes of it (the Makefile's flags), and
# llvm-mca's cycles per iteration on each CPU model, against the FMA ports'
# bound: how close each shape comes to the CPU's peak, without the CPU.
#
#   bash tests/bench/mca.sh
#
# Environment: MCA (llvm-mca-16), CC (gcc).  Prints one line per shape and
# CPU: the fused multiply-adds per iteration, llvm-mca's cycles per
# iteration, FMAs per cycle, and that as a share of the model's own bound
# for those FMAs: 2 per cycle, except 512-bit ones on znver4, which LLVM
# 16's model issues one per 2 cycles (the hardware does one per cycle, on
# its two 256-bit pipes): 0.5.
set -euo pipefail
cd "$(dirname "$0")/../.."
MCA=${MCA:-llvm-mca-16} CC=${CC:-gcc}
command -v "$MCA" >/dev/null || {
	echo "mca.sh: $MCA is missing (apt-get install llvm-16)" >&2
	exit 1
}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
CFLAGS="-O2 -std=c11 -ffp-contract=off -D_GNU_SOURCE -Icommon"

# The innermost loop of $1 (GCC's assembly) with exactly $2 FMAs and no
# label inside: the microkernel's k loop at its full row count.
loop_of() {
	awk -v want="$2" '
		/^\.L[0-9]+:/ { label = substr($1, 1, length($1) - 1); n = 0; body = ""; next }
		/^[ \t]+j[a-z]+[ \t]+\.L[0-9]+$/ {
			if ($2 == label && n == want && !done) { printf "%s%s\n", body, $0; done = 1 }
		}
		/vfmadd/ { n++ }
		{ body = body $0 "\n" }' "$1"
}

# shape ISA LANES FLAGS KIND ROWS VECS: the loop of that shape, in $TMP.
shape() {
	local isa=$1 lanes=$2 flags=$3 kind=$4 rows=$5 vecs=$6 src=$TMP/k.c
	cat >"$src" <<-EOF
		#include "kernels/isa.h"
		#define SIMD_LANES $lanes
		#define KERN_ISA ISA_PORTABLE
		#define KERN_NAME kern_mca
		#define KERN_LABEL "mca"
		#define KERN_CONV_MR $([ "$kind" = conv ] && echo "$rows" || echo 6)
		#define KERN_CONV_NRV $([ "$kind" = conv ] && echo "$vecs" || echo 2)
		#define KERN_GEMM_R $([ "$kind" = fc ] && echo "$rows" || echo 4)
		#define KERN_GEMM_V $([ "$kind" = fc ] && echo "$vecs" || echo 3)
		#include "kernels/simd.h"
		#include "kernels/kern_conv.h"
		#include "kernels/kern_gemm.h"
		#include "kernels/kern_adam.h"
		#include "kernels/kern_step.h"
		#include "kernels/kern_table.h"
	EOF
	$CC $CFLAGS $flags -S -o "$TMP/k.s" "$src"
	loop_of "$TMP/k.s" $((rows * vecs)) >"$TMP/loop.s"
}

report() { # isa kind rows vecs flags lanes cpus...
	local isa=$1 kind=$2 rows=$3 vecs=$4 flags=$5 lanes=$6
	shift 6
	shape "$isa" "$lanes" "$flags" "$kind" "$rows" "$vecs"
	local fmas
	fmas=$(grep -c vfmadd "$TMP/loop.s" || true)
	if [ "$fmas" = 0 ]; then
		printf '%-8s %-4s %2dx%d  (no such loop found)\n' "$isa" "$kind" "$rows" "$vecs"
		return
	fi
	for cpu in "$@"; do
		local bound=2
		[ "$cpu" = znver4 ] && [ "$isa" = avx512 ] && bound=0.5
		"$MCA" -mcpu="$cpu" -iterations=300 "$TMP/loop.s" 2>/dev/null |
			awk -v isa="$isa" -v kind="$kind" -v r="$rows" -v v="$vecs" -v f="$fmas" \
				-v cpu="$cpu" -v bound="$bound" '
			/^Iterations:/ { it = $2 }
			/^Total Cycles:/ { cyc = $3 }
			/^Instructions:/ { ins = $2 }
			END {
				c = cyc / it; fpc = f / c
				printf "%-8s %-4s %2dx%d  %-15s %3d FMA %3d instr  %6.2f cycles  %5.2f FMA/cycle  %4.0f%% of the bound\n",
					isa, kind, r, v, cpu, f, ins / it, c, fpc, 100 * fpc / bound
			}'
	done
}

echo "llvm-mca: $("$MCA" --version | grep -m1 -o 'LLVM version [0-9.]*'), gcc: $($CC -dumpversion)"
echo "isa      kind shape cpu             per iteration of the k loop"
X512="-mavx512f -mavx2 -mfma" X2="-mavx2 -mfma"
# The convolutions' microkernel: avx512 14x2 and avx2 6x2 are the tables'.
for s in 14x2 12x2 16x1 8x3 6x4; do
	report avx512 conv "${s%x*}" "${s#*x}" "$X512" 16 sapphirerapids znver4
done
for s in 6x2 4x3 3x4 12x1; do
	report avx2 conv "${s%x*}" "${s#*x}" "$X2" 8 haswell znver3
done
# fc's tile: avx512 8x3 and avx2 4x3 are the tables'.
for s in 8x3 4x3 8x2; do
	report avx512 fc "${s%x*}" "${s#*x}" "$X512" 16 sapphirerapids znver4
done
for s in 4x3 3x4 2x6; do
	report avx2 fc "${s%x*}" "${s#*x}" "$X2" 8 haswell znver3
done
