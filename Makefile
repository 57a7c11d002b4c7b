# The README's two commands: `make demo` and `make test`. Each does the whole
# set-up first (Debian packages, configure, build); re-running is cheap.
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
BIN := $(BUILD)/cli/factorize-nas

.PHONY: all deps configure build test sanitize tsan demo format clean

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

# ThreadSanitizer (docs/reliability.md): a third build, in build-tsan/, of the store and
# driver tests (the driver's worker, heartbeat and display threads share one Store), each run
# whole. LibTorch, libgomp and oneTBB are not instrumented: scripts/tsan.supp lists the
# reports that come from inside them, with the reason. Not in CI.
TSAN_BUILD ?= build-tsan
TSAN_TESTS ?= db_store_test db_store_access_test db_front_test search_driver_test \
	search_pruning_driver_test
tsan: deps
	@cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFNAS_SANITIZE=thread >/dev/null
	@cmake --build $(TSAN_BUILD) -j$(JOBS) --target $(TSAN_TESTS)
	@set -e; for t in $(TSAN_TESTS); do echo "== $$t (TSan)"; \
		TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/scripts/tsan.supp" \
		$(TSAN_BUILD)/tests/$$t --gtest_brief=1; done

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
