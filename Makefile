# SYMOG quantization harness. `make help` lists the targets.
#
# The build globs its sources: a new engine/*/x.c joins the library, a new
# tests/test_x.c becomes a test binary, a new baselines/x.c becomes a plugin,
# with no edit here.

CC      ?= cc
PKGS    := openblas yaml-0.1 lua5.4 zlib
OPT     ?= -O2 -march=native
CFLAGS  += -std=c11 $(OPT) -g -fPIC -fopenmp -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers \
           -D_POSIX_C_SOURCE=200809L -Iengine/include -Iengine/core -Iengine \
           $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS  += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -fopenmp -lm -ldl -lpthread
B       := build
PROFILE ?= quick

ifeq ($(SAN),1)
  CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -O1
  LDFLAGS += -fsanitize=address,undefined
  B := build-san
endif

ENGINE_SRC := $(filter-out engine/cli/%,$(wildcard engine/*/*.c))
# the double-precision twin holds only what gradient checks exercise
F64_LIB_SRC := $(filter engine/core/% engine/layers/% engine/models/% engine/optim/%,$(ENGINE_SRC))
CLI_SRC    := $(wildcard engine/cli/*.c)
TEST_SRC   := $(wildcard tests/test_*.c)
F64_SRC    := $(wildcard tests/f64_*.c)
PLUGIN_SRC := $(wildcard baselines/*.c)

LIB     := $(B)/libsymog.a
LIB64   := $(B)/f64/libsymog.a
SYMOG   := $(B)/symog
TESTS   := $(TEST_SRC:tests/%.c=$(B)/tests/%) $(F64_SRC:tests/%.c=$(B)/tests/%)
PLUGINS := $(PLUGIN_SRC:baselines/%.c=$(B)/plugins/%.so)

.PHONY: all deps test bench reproduce clean help data
all: $(SYMOG) $(PLUGINS)

help:
	@echo "make deps       install missing Debian packages (as root) or print the command"
	@echo "make            build $(SYMOG), the library and the plugins"
	@echo "make test       build and run every test (SAN=1: under ASan+UBSan)"
	@echo "make fuzz       run every libFuzzer target FUZZ_TIME seconds (default 60; docs/faults.md)"
	@echo "make bench      throughput benchmark -> results/bench/"
	@echo "make reproduce  train the paper's runs (PROFILE=smoke|quick|paper), then tables and figures"
	@echo "make report     only the tables and figures from the finished runs (PROFILE=...)"

deps:
	@sh tests/deps.sh

# ---- library (float) and its double-precision twin for gradient checks --
$(B)/obj/%.o: %.c $(wildcard engine/*/*.h engine/include/symog/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@
$(B)/f64/obj/%.o: %.c $(wildcard engine/*/*.h engine/include/symog/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DSQ_F64 -c $< -o $@

$(LIB): $(ENGINE_SRC:%.c=$(B)/obj/%.o)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^
$(LIB64): $(F64_LIB_SRC:%.c=$(B)/f64/obj/%.o)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(SYMOG): $(CLI_SRC:%.c=$(B)/obj/%.o) $(LIB)
	$(CC) $(LDFLAGS) -rdynamic -o $@ $^ $(LDLIBS)

$(B)/plugins/%.so: baselines/%.c engine/include/symog/quant.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -shared -o $@ $< $(LDFLAGS)

# ---- tests ------------------------------------------------------------
$(B)/tests/test_%: tests/test_%.c tests/testutil.h $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DSQ_BUILD_DIR='"$(B)"' $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS) -lcmocka
$(B)/tests/f64_%: tests/f64_%.c tests/testutil.h $(LIB64)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DSQ_F64 $(LDFLAGS) -o $@ $< $(LIB64) $(LDLIBS) -lcmocka

$(TESTS): | $(PLUGINS)
test: deps $(SYMOG) $(PLUGINS) $(TESTS)
	@B=$(B) sh tests/run.sh $(TESTS)

bench: deps $(SYMOG)
	@mkdir -p results/bench
	$(SYMOG) bench --out results/bench

reproduce: deps $(SYMOG) $(PLUGINS)
	@sh experiments/reproduce.sh $(PROFILE)

.PHONY: report
report: $(SYMOG) $(PLUGINS)
	$(SYMOG) report --profile $(PROFILE)

data:
	@sh tests/fetch-data.sh $(or $(SYMOG_DATA),data)

clean:
	rm -rf build build-san build-fuzz

# ---- reliability: sanitizer settings and fuzzing (tests/fuzz/) ------------
# Under SAN=1 undefined behaviour aborts and a leak fails the test.
ifeq ($(SAN),1)
  export ASAN_OPTIONS ?= detect_leaks=1:halt_on_error=1:abort_on_error=1:strict_string_checks=1
  export UBSAN_OPTIONS ?= halt_on_error=1:print_stacktrace=1
  export LSAN_OPTIONS ?= suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0
endif

# `make fuzz` builds every tests/fuzz/fuzz_*.c with libFuzzer (clang, ASan,
# UBSan) and runs each for FUZZ_TIME seconds on its committed seed corpus.
FUZZ_CC    ?= clang
FUZZ_TIME  ?= 60
FB         := build-fuzz
FUZZ_SRC   := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN   := $(FUZZ_SRC:tests/fuzz/%.c=$(FB)/%)
FUZZ_FLAGS := -std=c11 -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
              -fno-sanitize-recover=undefined -Wall -Wextra -Wno-unused-parameter \
              -Wno-missing-field-initializers -D_POSIX_C_SOURCE=200809L \
              -Iengine/include -Iengine/core -Iengine $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
FUZZ_LIBS  := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm -ldl -lpthread

.PHONY: fuzz fuzz-build
$(FB)/obj/%.o: %.c $(wildcard engine/*/*.h engine/include/symog/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -c $< -o $@
$(FB)/libsymog.a: $(ENGINE_SRC:%.c=$(FB)/obj/%.o)
	rm -f $@ && ar rcs $@ $^
$(FB)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(FB)/libsymog.a
	$(FUZZ_CC) $(FUZZ_FLAGS) -DFUZZ_LIBFUZZER -fsanitize=fuzzer -o $@ $< $(FB)/libsymog.a $(FUZZ_LIBS)
fuzz-build: deps $(FUZZ_BIN)
fuzz: fuzz-build
	@FB=$(FB) FUZZ_TIME=$(FUZZ_TIME) sh tests/fuzz/run.sh $(FUZZ_BIN)
# the replay test compiles the targets in
$(B)/tests/test_fuzz: $(wildcard tests/fuzz/*.c tests/fuzz/*.h)
$(B)/tests/test_crash $(B)/tests/test_faults $(B)/tests/test_cli: tests/reliability.h | $(SYMOG)
