# imislink - top-level build.  `make help` lists the targets.
#
# Every program is C11 built with -Wall -Wextra -Werror.  A program is a
# directory with a main.c under producers/, workers/, deploy/ or tests/emulators/;
# its binary is named after the directory (imislink-<dir>, but plain `imislink`
# for the operator tool).  The common/ modules form build/libimislink.a.

.SUFFIXES:
.DELETE_ON_ERROR:
.SECONDARY:

BUILD    ?= build
CC       ?= cc
CFLAGS   ?= -O2 -g
SAN      ?=

PKGS      := rdkafka avro-c libcurl libcjson libmicrohttpd libpq libcrypto
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

IL_CFLAGS := -std=c11 -Wall -Wextra -Werror -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
	-Icommon -DIL_SCHEMAS_DIR='"$(CURDIR)/schemas"' -DIL_AUDIT_SQL_DIR='"$(CURDIR)/deploy/sql/audit"' -DIL_TEST_DATA_DIR='"$(CURDIR)/tests/data"' -MMD -MP
ifneq ($(SAN),)
IL_CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS   += -fsanitize=address,undefined
endif
LDLIBS    = $(PKG_LIBS) -lpthread -lm

COMMON_SRC := $(sort $(wildcard common/*.c))
COMMON_OBJ := $(COMMON_SRC:%.c=$(BUILD)/obj/%.o)
LIB        := $(BUILD)/libimislink.a

PROGRAM_DIRS := $(patsubst %/main.c,%,$(sort $(wildcard producers/*/main.c workers/*/main.c deploy/*/main.c tests/emulators/*/main.c)))
program_name  = $(if $(filter imislink,$(notdir $(1))),imislink,imislink-$(notdir $(1)))
PROGRAMS     := $(foreach d,$(PROGRAM_DIRS),$(BUILD)/bin/$(call program_name,$(d)))

# A program's modules other than main.c also form build/libprograms.a, so unit
# and integration tests can link the worker's modules (each has its own prefix).
PROG_MOD_SRC := $(filter-out %/main.c,$(sort $(foreach d,$(PROGRAM_DIRS),$(wildcard $(d)/*.c))))
PROG_LIB     := $(BUILD)/libprograms.a

UNIT_SRC   := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
IT_SRC     := $(sort $(wildcard tests/integration/it_*.c))
IT_BIN     := $(IT_SRC:tests/integration/%.c=$(BUILD)/tests/%)
BENCH_SRC  := $(sort $(wildcard tests/bench/bench_*.c))
BENCH_BIN  := $(BENCH_SRC:tests/bench/%.c=$(BUILD)/bench/%)

.PHONY: all deps test quick asan bench demo clean help style

all: $(LIB) $(PROGRAMS) $(UNIT_BIN) $(IT_BIN) $(BENCH_BIN)

help:
	@echo "make          build every program, test and benchmark binary into $(BUILD)/"
	@echo "make deps     install the Debian packages and fetch the test broker (Kafka 3.9 jars)"
	@echo "make demo     install what is missing, build, run the pipeline on embedded defaults"
	@echo "make test     install what is missing, build, run unit + integration tests (sanitizer build)"
	@echo "make quick    unit tests only (no broker, no PostgreSQL)"
	@echo "make asan     the same as make test, whose test build is the sanitizer build"
	@echo "make bench    run the benchmarks; figures go to $(BUILD)/bench.jsonl"
	@echo "make fuzz     libFuzzer over the parsers of outside bytes (clang; FUZZ_SECONDS per target, default 60)"
	@echo "make clean    remove $(BUILD)/"

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(IL_CFLAGS) $(CFLAGS) $(PKG_CFLAGS) -c -o $@ $<

$(LIB): $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(PROG_LIB): $(PROG_MOD_SRC:%.c=$(BUILD)/obj/%.o)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

define PROGRAM_template
$(BUILD)/bin/$(call program_name,$(1)): $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard $(1)/*.c)) $(LIB)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS)
endef
$(foreach d,$(PROGRAM_DIRS),$(eval $(call PROGRAM_template,$(d))))

$(BUILD)/tests/test_%: $(BUILD)/obj/tests/unit/test_%.o $(PROG_LIB) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

$(BUILD)/tests/it_%: $(BUILD)/obj/tests/integration/it_%.o $(PROG_LIB) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bench/%: $(BUILD)/obj/tests/bench/%.o $(PROG_LIB) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

deps:
	./deploy/deps.sh --test

# The suite runs on the sanitizer build (the test build of the project), after
# the plain build proved warning-free; the plain binaries serve the valgrind
# checks of the daemons' main loops (tests/integration/0040-valgrind.sh).
test:
	./deploy/deps.sh --test --quiet-if-present
	$(MAKE) all
	$(MAKE) BUILD=build/asan SAN=1 all
	BUILD=build/asan IL_PLAIN_BUILD=$(CURDIR)/$(BUILD) ./tests/run.sh

quick: all
	BUILD=$(BUILD) ./tests/run.sh --unit-only

# The test build already is the sanitizer build; the name stays for those who
# look for it.
asan: test

bench:
	./deploy/deps.sh --test --quiet-if-present
	$(MAKE) all
	BUILD=$(BUILD) ./tests/bench/run.sh

demo:
	./deploy/deps.sh --demo --quiet-if-present
	$(MAKE) all
	BUILD=$(BUILD) ./deploy/demo/run.sh

style:
	./tests/style.sh

clean:
	rm -rf build

# Fuzzing, a developer's target outside `make test`: clang's libFuzzer with
# ASan and UBSan over the parsers of outside bytes (tests/fuzz/targets.h).
# Builds every tests/fuzz/fuzz_*.c with the common/ sources into
# $(BUILD)/fuzz/ and runs each for FUZZ_SECONDS on its corpus
# (tests/data/fuzz/<target>/); see tests/fuzz/run.sh.
FUZZ_CC      ?= clang
FUZZ_CFLAGS  ?= -O1 -g
FUZZ_SECONDS ?= 60
FUZZ_TIMEOUT ?= 1
FUZZ_JOBS    ?= 1
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_NAMES   := $(patsubst tests/fuzz/%.c,%,$(sort $(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_TARGETS ?= $(FUZZ_NAMES)
FUZZ_OBJ     := $(COMMON_SRC:%.c=$(BUILD)/fuzz/obj/%.o)

.PHONY: fuzz
fuzz:
	@FUZZ_CC=$(FUZZ_CC) ./tests/fuzz/run.sh --check
	$(MAKE) $(FUZZ_TARGETS:%=$(BUILD)/fuzz/%)
	BUILD=$(BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_TIMEOUT=$(FUZZ_TIMEOUT) FUZZ_JOBS=$(FUZZ_JOBS) \
		./tests/fuzz/run.sh $(FUZZ_TARGETS)

$(BUILD)/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(IL_CFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(FUZZ_SAN) $(PKG_CFLAGS) -c -o $@ $<

$(BUILD)/fuzz/fuzz_%: $(BUILD)/fuzz/obj/tests/fuzz/fuzz_%.o $(FUZZ_OBJ)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $^ $(LDLIBS)

-include $(COMMON_OBJ:.o=.d) $(wildcard $(BUILD)/obj/*/*/*.d $(BUILD)/obj/*/*/*/*.d)
-include $(wildcard $(BUILD)/fuzz/obj/*/*.d $(BUILD)/fuzz/obj/*/*/*.d)
