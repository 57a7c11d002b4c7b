# The README's two commands: `make demo` and `make test`. Each does the whole
# set-up first (Debian packages, configure, build); re-running is cheap.
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
BIN := $(BUILD)/cli/factorize-nas

.PHONY: all deps configure build test demo format clean

all: build

deps:
	@bash scripts/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null

build: configure
	@cmake --build $(BUILD) -j$(JOBS)

test: build
	cd $(BUILD) && ctest -j$(JOBS) --output-on-failure

demo: build
	$(BIN) space configs/factorizenet-cifar10.yaml

format:
	clang-format -i $$(git ls-files '*.h' '*.cpp')

clean:
	rm -rf $(BUILD)
