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

# The quickstart study on Debian's Fashion-MNIST, from scratch each time.
DEMO_DB := runs/demo.db
demo: build
	@rm -rf $(DEMO_DB) $(DEMO_DB)-wal $(DEMO_DB)-shm runs/demo.ckpt runs/demo.html
	$(BIN) space configs/quickstart.yaml
	$(BIN) search configs/quickstart.yaml --db $(DEMO_DB)
	$(BIN) front $(DEMO_DB)
	$(BIN) report $(DEMO_DB) --out runs/demo.html

format:
	clang-format -i $$(git ls-files '*.h' '*.cpp')

clean:
	rm -rf $(BUILD)
