# The README's two commands: `make demo` and `make test`. Each does the whole
# set-up first (Debian packages, configure, build); re-running is cheap.
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
BIN := $(BUILD)/cli/factorize-nas

.PHONY: all deps configure build test sanitize demo format clean

all: build

deps:
	@bash scripts/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null

build: configure
	@cmake --build $(BUILD) -j$(JOBS)

test: build
	cd $(BUILD) && ctest -j$(JOBS) --output-on-failure

# AddressSanitizer + UndefinedBehaviorSanitizer (docs/reliability.md): a second build, in
# build-sanitize/, of the test binaries below and the libraries they link (not the program),
# each run whole under both sanitizers. The default subset is what CI runs: the store (its
# SQL, ownership, migrations, atomic creation), the config loader, the search space and the
# tables. (ASan replaces malloc, so the mallopt tuning test skips itself.) A wider one, locally: make sanitize SANITIZE_TESTS="... search_driver_test
# evaluators_train_checkpoint_test evaluators_train_dataset_test evaluators_quant_quant_net_test".
SANITIZE_BUILD ?= build-sanitize
SANITIZE_TESTS ?= common_test config_test space_test db_store_test db_store_access_test
sanitize: deps
	@cmake -S . -B $(SANITIZE_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DFNAS_SANITIZE=address,undefined >/dev/null
	@cmake --build $(SANITIZE_BUILD) -j$(JOBS) --target $(SANITIZE_TESTS)
	@set -e; for t in $(SANITIZE_TESTS); do echo "== $$t (ASan + UBSan)"; \
		ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		$(SANITIZE_BUILD)/tests/$$t --gtest_brief=1; done

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
