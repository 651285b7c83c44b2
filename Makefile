# sluice — see README.md.
GO      ?= go
PKGS    ?= ./...
# Packages whose tests run under the race detector (all of them, as long as
# the full run stays well under CI's budget).
RACE    ?= -race
TIMEOUT ?= 20m

.PHONY: all build setup test vet bench demo clean

all: build

build:
	$(GO) build -o bin/sluice ./cmd/sluice

setup:
	scripts/setup

vet:
	$(GO) vet $(PKGS)

# The test command: installs missing test servers and clients, then runs
# every test against real PostgreSQL, MariaDB and S3 (versitygw).
test: setup vet
	$(GO) test $(RACE) -count=1 -timeout $(TIMEOUT) $(PKGS)

# Benchmarks; results are recorded in BENCHMARKS.md.
bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

demo:
	@echo "make demo arrives with issue #7 (CDC into a data lake quick start)"; exit 2

clean:
	rm -rf bin
