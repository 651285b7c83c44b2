# sluice — see README.md.
GO      ?= go
PKGS    ?= ./...
# Packages whose tests run under the race detector (all of them, as long as
# the full run stays well under CI's budget).
RACE    ?= -race
TIMEOUT ?= 20m

.PHONY: all build setup test vet bench bench-broker bench-pg bench-s3 bench-pool bench-opensearch bench-mysql bench-cluster bench-e2e test-netns demo demo-mysql clean

all: build

build:
	$(GO) build -o bin/sluice ./cmd/sluice

setup:
	scripts/setup

# go vet, staticcheck, and go.mod/go.sum must already be tidy (go mod tidy
# -diff prints what tidy would change and fails). staticcheck runs at a
# pinned version from the module proxy, so it never enters go.mod.
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2
vet:
	$(GO) vet $(PKGS)
	$(STATICCHECK) $(PKGS)
	$(GO) mod tidy -diff

# The test command: installs missing test servers and clients, then runs
# every test against real PostgreSQL, MariaDB and S3 (versitygw).
test: setup vet
	$(GO) test $(RACE) -count=1 -timeout $(TIMEOUT) $(PKGS)

# The broker cluster's network-partition test in network namespaces (veth
# pairs and a bridge in namespaces it creates; needs root and iproute2).
test-netns: build
	SLUICE_NETNS_TESTS=1 $(GO) test -count=1 -run TestNetnsPartitionedLeader -v ./broker/clustertest/

# Benchmarks; results are recorded in BENCHMARKS.md with the command and
# machine. They are not part of `make test`.
bench: bench-broker bench-pg bench-s3 bench-opensearch

# Broker produce/consume MB/s against kfake, in one run.
bench-broker:
	scripts/bench-broker

# Broker cluster: RF=3 vs RF=1 acks=all produce MB/s and leadership
# recovery after kill -9, on three broker processes.
bench-cluster:
	scripts/bench-cluster

# Postgres CDC rows/s into the broker against pg_recvlogical on the same
# WAL, and snapshot rows/s.
bench-pg: setup
	scripts/bench-pg

# S3 sink rows/s written against raw parquet-go encoding.
bench-s3: setup
	scripts/bench-s3

# Worker pools: time from load start to scaled out, and a CPU-bound sink's
# throughput on 1 vs 3 workers (child sluice worker processes).
bench-pool:
	scripts/bench-pool

# OpenSearch sink docs/s against raw _bulk ingest into the test server.
bench-opensearch:
	scripts/bench-opensearch

# MariaDB binlog CDC rows/s into the broker against mariadb-binlog on the
# same binlog, and snapshot rows/s.
bench-mysql: setup
	scripts/bench-mysql

# The quick start's whole pipeline (Postgres CDC -> broker -> Parquet, local
# and S3): rows/s against pg_recvlogical on the same WAL, freshness
# p50/p95/p99, CPU per million rows, peak RSS and pprof profiles.
bench-e2e: setup
	scripts/bench-e2e

# The quick start: Postgres CDC into Parquet files (examples/cdc-to-datalake).
demo: build
	scripts/demo

# The quick start's MariaDB variant: binlog CDC into Parquet files
# (examples/cdc-mariadb).
demo-mysql: build
	scripts/demo-mysql

clean:
	rm -rf bin
