# The two commands: `make run` and `make test`. Both install what they need first.
SHELL := /bin/bash
BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= 2
HOST ?= 127.0.0.1
PORT ?= 8000
# ccache keys on paths relative to the checkout, so another clone (CI) reuses the cache.
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := true

# Debian 12 packages the build, the tests and the benchmarks need.
APT_PACKAGES := g++ cmake make pkg-config ccache \
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev \
  libssl-dev libsodium-dev libsqlite3-dev libspdlog-dev libfmt-dev libhiredis-dev libgoogle-perftools-dev \
  libgtest-dev libgmock-dev libbenchmark-dev \
  espeak-ng espeak-ng-data libespeak-ng-dev \
  redis-server wrk python3 python3-jwt curl ca-certificates \
  postgresql libpq-dev

.PHONY: run test deps build build-asan unit e2e bench clean chaos-queue

deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	command -v npm >/dev/null 2>&1 || missing="$$missing nodejs npm"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j$(JOBS)

build-asan: deps
	@[ -f $(ASAN_BUILD)/CMakeCache.txt ] || cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug \
	  -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1" -DSANITIZE=address,undefined -DCONFIDANT_BENCH=OFF
	cmake --build $(ASAN_BUILD) --target unit_tests -j$(JOBS)

run: build
	mkdir -p data
	HOST=$(HOST) PORT=$(PORT) $(BUILD)/confidant serve

# Everything: the Release build's unit and end-to-end suites (they start redis-server, the
# Gemini emulator and Confidant itself on free loopback ports and stop them by pid), then the
# unit tests again under AddressSanitizer + UndefinedBehaviorSanitizer.
test: build build-asan
	cd tests/e2e && ([ -d node_modules/openai ] || npm ci --no-audit --no-fund --loglevel=error)
	cd $(BUILD) && ctest --output-on-failure --timeout 600 -j1
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -L unit --timeout 900 -j1

# The full form of the worker-crash test: 10,000 jobs, 50 SIGKILLs of 4 workers.
chaos-queue: build
	cd tests/e2e && QUEUE_CRASH_FULL=1 CONFIDANT_BIN=$(CURDIR)/$(BUILD)/confidant python3 -m unittest -v test_queue_crash

bench: build
	bench/http.sh
	bench/cache.sh
	bench/chat.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
