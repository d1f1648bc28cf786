# Pushbox — `make help` lists the targets.
#
# Variables (override on the command line, e.g. `make build SWIFT=/path/to/swift`):
#   SWIFT        the swift driver (default: swift; /opt/swift/usr/bin is put on
#                PATH when no swift is found there)
#   SWIFT_FLAGS  flags for both `swift build` and `swift test`; they make the
#                module table of docs/architecture.md a compiler check
#   PUSHBOX      the built CLI (exported; tests see it as PUSHBOX_BIN)

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

SWIFT ?= swift
ifeq ($(shell command -v $(SWIFT) 2>/dev/null),)
  export PATH := /opt/swift/usr/bin:$(PATH)
endif

SWIFT_FLAGS ?= -Xswiftc -warnings-as-errors --explicit-target-dependency-import-check error
PUSHBOX := $(CURDIR)/.build/debug/pushbox
export PUSHBOX

.PHONY: help setup build image image-base image-claude vm-images test demo bench fuzz clean

# Host-wide build caches outside the repo (image tars, debootstrap scratch, .debs, wheels); the build
# scripts and `pushbox image build` read PUSHBOX_CACHE too. scripts/fresh-check points it at an empty
# directory to prove that nothing depends on what is cached.
PUSHBOX_CACHE ?= /var/cache/pushbox
export PUSHBOX_CACHE
# Guest images of the shipped QEMU profiles (a no-op when up to date).
VM_IMAGES ?= $(PUSHBOX_CACHE)/vm-images
export PUSHBOX_VM_IMAGES := $(VM_IMAGES)

help: ## Show this help
	@echo "Pushbox make targets:"
	@awk 'BEGIN { FS = ":.*## " } /^[a-zA-Z_-]+:.*## / { printf "  %-8s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)
	@echo "Variables: SWIFT=$(SWIFT)  PUSHBOX=$(PUSHBOX)"

setup: ## Install and configure the system pieces (Debian packages, podman config); root, idempotent
	scripts/setup

build: setup ## Build the pushbox CLI (debug) into .build/debug/pushbox
	$(SWIFT) build $(SWIFT_FLAGS) --product pushbox
	@test -x "$(PUSHBOX)" || { echo "make: $(PUSHBOX) was not built" >&2; exit 1; }

image: build ## Build every job image under sandbox/ (base, node, go, rust, java, claude; cached)
	"$(PUSHBOX)" image build --all

image-base: build ## Build only the base image pushbox/debian:bookworm (enough for make demo; cached)
	"$(PUSHBOX)" image build

image-claude: build ## Build pushbox/claude:bookworm (the Claude Code CLI, for autofix.backend claude-code; cached)
	"$(PUSHBOX)" image build claude

vm-images: build ## Build the guest images of linux-x86_64 and linux-aarch64 into $(VM_IMAGES) (cached)
	"$(PUSHBOX)" vm build linux-x86_64 --images "$(VM_IMAGES)"
	"$(PUSHBOX)" vm build linux-aarch64 --images "$(VM_IMAGES)"

test: image vm-images ## Run every test (swift test) against the built CLI, the job images and the guest images
	@# --no-parallel: the end-to-end tests wait on real processes and would starve the in-process servers
	@# (the fake model API) of the two cooperative threads this machine has.
	PUSHBOX_BIN="$(PUSHBOX)" $(SWIFT) test $(SWIFT_FLAGS) --no-parallel

demo: image-base ## Push a passing and a failing commit through a real daemon and a guest; autofix the failing one (scripts/demo)
	PUSHBOX_BIN="$(PUSHBOX)" scripts/demo

bench: image ## Build the release CLI and run every executable script in bench/ (fails when there is none)
	$(SWIFT) build -c release $(SWIFT_FLAGS) --product pushbox
	@found=0; \
	for s in bench/*; do \
	  [ -f "$$s" ] && [ -x "$$s" ] || continue; \
	  found=1; echo "== $$s"; PUSHBOX_BIN="$(CURDIR)/.build/release/pushbox" "$$s"; \
	done; \
	[ "$$found" = 1 ] || { echo "make bench: no executable scripts in bench/" >&2; exit 1; }

FUZZ_SECONDS ?= 60
fuzz: setup ## Run each libFuzzer harness (Fuzz/) for FUZZ_SECONDS (default 60); crashes land in Fuzz/crashes/
	scripts/fuzz $(FUZZ_SECONDS)

clean: ## Remove build products (.build, bench/results); images and caches stay
	rm -rf .build bench/results
