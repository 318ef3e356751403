# letterlock - a thin Makefile over Meson/Ninja.
#
#   make demo     set up, build, run scripts/demo (alice seals, bob opens;
#                 then the same through their bridges)
#   make check    set up, build the normal tree, run tests/run while
#                 the ASan+UBSan and fuzz trees build (ends with
#                 "N passed, N failed")
#   make bench    set up, build, run bench/run, acme, tsa, pkx, bridge
#   make fuzz     set up, build the fuzz tree, run every fuzz target for
#                 FUZZ_SECONDS seconds (default 60) on its corpus
#   make build    configure build/ if needed, then ninja
#   make clean    remove every build tree
#
# `setup` installs the Debian packages the rest needs (scripts/setup;
# quiet and quick when nothing is missing; as root).

SHELL := /bin/bash
.DEFAULT_GOAL := build

MESON ?= meson
NINJA ?= ninja

BUILD := build
ASAN_BUILD := build-asan
FUZZ_BUILD := build-fuzz

# The ASan+UBSan tree is built with clang: its combined runtime aborts
# on a UBSan finding (gcc's libubsan exits 1, which is also letterlock's
# "signature not valid") and writes reports to log_path, which tests/run
# uses to catch findings in runs a test expected to fail.
ASAN_CC ?= clang
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60

COMMON_OPTS := --buildtype=debugoptimized -Dwerror=true
ASAN_OPTS := $(COMMON_OPTS) -Db_sanitize=address,undefined -Db_lundef=false
# fuzzer-no-link: coverage instrumentation for the library's objects too
# (only the fuzz_* targets link the libFuzzer runtime).
FUZZ_OPTS := $(COMMON_OPTS) -Dfuzz=true -Db_sanitize=address,undefined \
	-Db_lundef=false -Dc_args=-fsanitize=fuzzer-no-link

# tree DIR CC OPTIONS: meson setup DIR unless it is configured already
# (a half-made tree is made anew), then ninja.  A failed build leaves
# DIR/.build-failed, which tests/run reports instead of testing a stale
# binary.
define tree
	@if [ ! -f $(1)/build.ninja ]; then \
		rm -rf $(1); \
		echo "CC=$(2) $(MESON) setup $(1) $(3)"; \
		CC=$(2) $(MESON) setup $(1) $(3) || \
			{ mkdir -p $(1); touch $(1)/.build-failed; exit 1; }; \
	fi
	@touch $(1)/.build-failed
	$(NINJA) -C $(1)
	@rm -f $(1)/.build-failed
endef

.PHONY: all setup build build-asan build-fuzz check demo bench fuzz clean

all: build

setup:
	@sh scripts/setup

build: setup
	$(call tree,$(BUILD),$${CC:-cc},$(COMMON_OPTS))

build-asan: setup
	$(call tree,$(ASAN_BUILD),$(ASAN_CC),$(ASAN_OPTS))

build-fuzz: setup
	$(call tree,$(FUZZ_BUILD),$(FUZZ_CC),$(FUZZ_OPTS))

# The sanitizer and fuzz trees are built in the background (in turn,
# output in $(BUILD)/trees.log) while tests/run starts on build/: the
# builds keep the CPU busy where build/'s integration scripts mostly
# wait.  tests/run starts what needs them when they are done
# ($(ASAN_BUILD)/.build-ended, then the background's end) and prints
# trees.log in front of the fuzz corpus replay.  If one fails to build,
# tests/run still runs and counts that tree's tests as failed (so the
# run always ends with its "N passed, N failed" line).
check: build
	@rm -f $(ASAN_BUILD)/.build-ended
	@{ $(MAKE) --no-print-directory build-asan || \
		echo "make check: $(ASAN_BUILD) failed to build; tests/run reports it"; \
	   mkdir -p $(ASAN_BUILD) && touch $(ASAN_BUILD)/.build-ended; \
	   $(MAKE) --no-print-directory build-fuzz || \
		echo "make check: $(FUZZ_BUILD) failed to build; tests/run reports it"; \
	} </dev/null >$(BUILD)/trees.log 2>&1 & trees=$$!; \
	trap 'kill $$trees 2>/dev/null' INT TERM; \
	echo "bash tests/run (building $(ASAN_BUILD) and $(FUZZ_BUILD) meanwhile)"; \
	TESTS_TREES_PID=$$trees TESTS_TREES_LOG=$(BUILD)/trees.log \
		bash tests/run; rc=$$?; wait $$trees; exit $$rc

demo: build
	bash scripts/demo

bench: build
	BENCH_BUILD=$(CURDIR)/$(BUILD) bench/run
	BENCH_BUILD=$(CURDIR)/$(BUILD) bench/acme
	BENCH_BUILD=$(CURDIR)/$(BUILD) bench/tsa
	BENCH_BUILD=$(CURDIR)/$(BUILD) bench/pkx
	BENCH_BUILD=$(CURDIR)/$(BUILD) bench/bridge

fuzz: build-fuzz
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_BUILD=$(CURDIR)/$(FUZZ_BUILD) \
		tests/fuzz/run-all $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
