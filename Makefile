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

# AddressSanitizer + UndefinedBehaviorSanitizer (docs/reliability.md): a second build in
# build-sanitize/ of the tests below and what they link, run under both sanitizers. The
# subset: the store, the config loader, the search driver and pruners, the Pareto front, the
# checkpoint reader/writer, the dataset readers and the integer path (every test of those
# binaries); the CLI end-to-end tests run in `make test` only (they would need the whole
# program instrumented, and double CI's build).
SANITIZE_BUILD ?= build-sanitize
SANITIZE_TESTS := common_test config_test space_test db_store_test db_store_access_test \
	search_driver_test search_pareto_test search_pruner_test search_pruning_driver_test \
	evaluators_train_checkpoint_test evaluators_train_dataset_test evaluators_quant_quant_net_test
sanitize: deps
	@cmake -S . -B $(SANITIZE_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DFNAS_SANITIZE=address,undefined >/dev/null
	@cmake --build $(SANITIZE_BUILD) -j$(JOBS) --target $(SANITIZE_TESTS)
	cd $(SANITIZE_BUILD) && ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest -j$(JOBS) --output-on-failure -R '^($(shell echo $(SANITIZE_TESTS) | \
		sed 's/ /|/g' | sed 's/_test//g'))'

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
