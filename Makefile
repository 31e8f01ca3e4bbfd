# Build: `make` builds the programs into bin/; `make test` builds and runs
# the tests; `make install PREFIX=...` installs the programs.
CC ?= cc
PKGS := openblas lmdb libjpeg libpng hdf5
OPT ?= -O2 -g
CFLAGS ?= $(OPT)
CFLAGS += -std=c11 -Wall -Wextra -Wshadow -Wno-unused-parameter -pthread
CPPFLAGS += -D_GNU_SOURCE -Icommon -Itests/support $(shell pkg-config --cflags $(PKGS))
LDLIBS += $(shell pkg-config --libs $(PKGS)) -lm -lpthread
PREFIX ?= /usr/local

# A fresh machine may lack the libraries: install them (as root) or say how.
ifeq ($(filter clean,$(MAKECMDGOALS)),)
ifneq ($(shell pkg-config --exists $(PKGS) cmocka 2>/dev/null && echo ok),ok)
DEPS_STATUS := $(shell bash .ci/deps.sh build >&2; echo $$?)
ifneq ($(DEPS_STATUS),0)
$(error build dependencies are missing (see the line above))
endif
endif
endif

COMMON_SRC := $(wildcard common/*.c)
COMMON_OBJ := $(COMMON_SRC:%.c=build/%.o)
# One program per main file in extract/ and train/: train/train_head.c
# becomes bin/train-head, train/featdb_main.c bin/featdb (a "_main" suffix
# keeps a program's file apart from the common/ module of the same name).
# What programs share lives in common/.
PROG_SRC := $(wildcard extract/*.c train/*.c)
prog_name = bin/$(subst _,-,$(patsubst %_main,%,$(basename $(notdir $(1)))))
PROGS := $(foreach s,$(PROG_SRC),$(call prog_name,$(s)))
TEST_SRC := $(wildcard tests/test_*.c)
TESTS := $(TEST_SRC:tests/%.c=build/tests/%)
SUPPORT_LIB := tests/support/testutil.c tests/support/proc.c
SUPPORT := $(patsubst tests/support/%.c,build/tests/%,$(filter-out $(SUPPORT_LIB),$(wildcard tests/support/*.c)))
TESTUTIL_OBJ := $(SUPPORT_LIB:%.c=build/%.o)

.PHONY: all test install clean
# Keep objects make would treat as intermediate (test support, programs).
.SECONDARY:
all: $(PROGS)

build/%.o: %.c $(wildcard common/*.h) $(wildcard tests/support/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

build/libcommon.a: $(COMMON_OBJ)
	rm -f $@
	ar rcs $@ $^

build/tests/test_%: build/tests/test_%.o $(TESTUTIL_OBJ) build/libcommon.a
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS) -lcmocka

build/tests/%: build/tests/support/%.o $(TESTUTIL_OBJ) build/libcommon.a
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

define prog_rule
$(call prog_name,$(1)): build/$(1:.c=.o) build/libcommon.a
	@mkdir -p bin
	$$(CC) $$(CFLAGS) $$^ -o $$@ $$(LDLIBS)
endef
$(foreach s,$(PROG_SRC),$(eval $(call prog_rule,$(s))))

# The synthetic weights file (official Keras layout, seeded He-normal) that
# the tests and the demo use in place of the real 553 MB download.
TEST_WEIGHTS := build/test-data/vgg16_seed1.h5
$(TEST_WEIGHTS): build/tests/gen_weights
	@mkdir -p $(dir $@)
	build/tests/gen_weights --seed 1 --out $@.tmp && mv $@.tmp $@

test: $(TESTS) $(SUPPORT) $(PROGS) $(TEST_WEIGHTS)
	TEST_WEIGHTS=$(TEST_WEIGHTS) bash tests/run.sh $(TESTS)

install: $(PROGS)
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(PROGS) $(DESTDIR)$(PREFIX)/bin

clean:
	rm -rf build bin
