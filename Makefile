# tandem: the two set-up commands are `make demo` and `make test`.
# Everything goes through CMake; builds live in build/ (release), build-asan/ (sanitizers),
# build-fuzz/ (clang + libFuzzer).
JOBS ?= 2
BUILD ?= build
GENERATOR := $(shell command -v ninja >/dev/null 2>&1 && echo "-G Ninja")
FUZZ_SECONDS ?= 60
export CCACHE_DIR ?= $(HOME)/.cache/ccache

.PHONY: all bootstrap build demo test test-sanitize bench fuzz soak clean

all: build

bootstrap:
	@scripts/bootstrap

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) $(GENERATOR) -DCMAKE_BUILD_TYPE=Release

build: bootstrap $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

demo: build
	@scripts/demo $(BUILD)

test: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

# The whole suite once more under AddressSanitizer + UndefinedBehaviorSanitizer (CI runs it).
test-sanitize: bootstrap
	cmake -S . -B build-asan $(GENERATOR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTANDEM_SANITIZE=ON -DTANDEM_BENCH=OFF
	cmake --build build-asan -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir build-asan --output-on-failure -j $(JOBS)

bench: build
	@scripts/bench $(BUILD)

# 30 minutes of mixed load on the server (loopback, bundled model): no failed request, the KV
# pool back to empty, flat RSS. SOAK_SECONDS shortens it.
SOAK_SECONDS ?= 1800
soak: build
	node bench/soak.mjs --bin $(BUILD)/tandem --model models/tandem-demo.gguf --seconds $(SOAK_SECONDS)

# libFuzzer targets under fuzz/, built with clang (+ASan/UBSan), each run for FUZZ_SECONDS.
fuzz: bootstrap
	CC=clang CXX=clang++ cmake -S . -B build-fuzz $(GENERATOR) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DTANDEM_FUZZ=ON -DTANDEM_SANITIZE=ON -DTANDEM_TESTS=OFF -DTANDEM_BENCH=OFF
	cmake --build build-fuzz -j $(JOBS)
	@scripts/fuzz build-fuzz $(FUZZ_SECONDS)

clean:
	rm -rf build build-asan build-fuzz
