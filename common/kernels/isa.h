/* isa.h - which vector instructions the kernels run with, chosen at run
 * time from what the CPU reports (never from the build machine's flags).
 *
 * Each ISA has one table of kernels (kern.h), all giving the same bits; the
 * network and the head ask isa_best() once, when they are made.
 * $VGGFEAT_ISA (portable, avx2, avx512, emul512) forces one for tests and
 * benchmarks, as long as the CPU has it. */
#ifndef COMMON_KERNELS_ISA_H
#define COMMON_KERNELS_ISA_H

enum {
	ISA_AUTO = 0,     /* isa_best() */
	ISA_PORTABLE = 1, /* plain C, on any CPU */
	ISA_AVX2 = 2,     /* AVX2 + FMA, 8 floats per vector */
	ISA_AVX512 = 3,   /* AVX-512F, 16 floats per vector */
	/* The AVX-512 kernels' 16-lane code compiled for AVX2 (two registers
	 * per vector): the same results as ISA_AVX512, to test that code on
	 * CPUs without AVX-512.  Slow; never chosen unless asked for. */
	ISA_EMUL512 = 4,
	ISA_COUNT = 5,
};

/* isa_cpu_has: 1 when this CPU runs isa (ISA_PORTABLE always). */
int isa_cpu_has(int isa);

/* isa_best: $VGGFEAT_ISA when set to a name this CPU runs, else the widest
 * ISA the CPU runs.  isa_env_error tells why $VGGFEAT_ISA was not taken:
 * NULL when it is unset or taken, else a one-line reason (static text)
 * that a program prints as a warning. */
int isa_best(void);
const char *isa_env_error(void);

/* isa_name: "portable", "avx2", "avx512", "emul512"; "auto" for ISA_AUTO.
 * isa_parse: the ISA of such a name, or -1. */
const char *isa_name(int isa);
int isa_parse(const char *name);

#endif
