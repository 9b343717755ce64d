# mod_auth0gw: `make` builds the module, `make test` runs every test, `make demo` the walk-through.
all:
include apxs.mk

.PHONY: all check-build deps unit unit-asan integration test fuzz fuzz-smoke bench-core bench bench-memory demo demo-stop clean

all: $(MODULE)

# ---- dependencies -------------------------------------------------------------------
deps:
	@bash .ci/deps.sh

# ---- unit tests of src/ (Check) --------------------------------------------------------
UNIT_SRC := $(wildcard t/unit/*.c)
UNIT_LIBS := $(shell pkg-config --libs check apr-1 apr-util-1) $(PKG_LIBS)

$(BUILD)/unit_tests: $(UNIT_SRC) $(wildcard t/unit/*.h) $(CORE_SRC) $(CORE_HDR)
	@mkdir -p $(BUILD)
	$(CC) $(CORE_CFLAGS) -Isrc -It/unit -o $@ $(UNIT_SRC) $(CORE_SRC) $(UNIT_LIBS)

$(BUILD)/unit_tests_asan: $(UNIT_SRC) $(wildcard t/unit/*.h) $(CORE_SRC) $(CORE_HDR)
	@mkdir -p $(BUILD)
	$(CC) $(CORE_CFLAGS) -O1 -fno-omit-frame-pointer -fsanitize=address,undefined,float-cast-overflow \
	    -fno-sanitize-recover=all -Isrc -It/unit -o $@ $(UNIT_SRC) $(CORE_SRC) $(UNIT_LIBS)

unit: $(BUILD)/unit_tests
	cd t/unit && CK_FORK=yes ../../$(BUILD)/unit_tests

unit-asan: $(BUILD)/unit_tests_asan
	cd t/unit && CK_FORK=no ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	    ../../$(BUILD)/unit_tests_asan

# ---- integration tests (Apache::Test against a real httpd) ---------------------------------
integration: $(MODULE)
	bash t/run-integration.sh

test: deps
	$(MAKE) all
	$(MAKE) check-build
	$(MAKE) unit
	$(MAKE) unit-asan
	$(MAKE) fuzz-smoke
	$(MAKE) integration

# ---- fuzzing (libFuzzer, clang) ------------------------------------------------------------
FUZZ_CFLAGS := -std=c99 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all $(PKG_CFLAGS) -Isrc
FUZZ_TIME ?= 60

$(BUILD)/fuzz_%: fuzz/fuzz_%.c $(CORE_SRC) $(CORE_HDR)
	@mkdir -p $(BUILD)
	clang $(FUZZ_CFLAGS) -o $@ $< $(CORE_SRC) $(shell pkg-config --libs apr-1 apr-util-1) $(PKG_LIBS)

fuzz: $(BUILD)/fuzz_token $(BUILD)/fuzz_jwks $(BUILD)/fuzz_json
	@mkdir -p $(BUILD)/corpus/token $(BUILD)/corpus/jwks $(BUILD)/corpus/json
	$(BUILD)/fuzz_token -max_total_time=$(FUZZ_TIME) -max_len=20000 $(BUILD)/corpus/token fuzz/seeds/token
	$(BUILD)/fuzz_jwks -max_total_time=$(FUZZ_TIME) -max_len=20000 $(BUILD)/corpus/jwks fuzz/seeds/jwks
	$(BUILD)/fuzz_json -max_total_time=$(FUZZ_TIME) -max_len=4096 -dict=fuzz/json.dict $(BUILD)/corpus/json fuzz/seeds/json

fuzz-smoke:
	$(MAKE) fuzz FUZZ_TIME=15

# ---- core benchmark (not a test) -----------------------------------------------------------
$(BUILD)/bench_core: bench/bench_core.c $(CORE_SRC) $(CORE_HDR)
	@mkdir -p $(BUILD)
	$(CC) $(CORE_CFLAGS) -Isrc -o $@ bench/bench_core.c $(CORE_SRC) \
	    $(shell pkg-config --libs apr-1 apr-util-1) $(PKG_LIBS)

bench-core: $(BUILD)/bench_core
	$(BUILD)/bench_core

# ---- against plain Apache and (PEERS=1) mod_oauth2 / mod_auth_openidc (not a test) ----------
PEERS ?= 0
bench: deps $(MODULE)
	PEERS=$(PEERS) bash bench/run.sh

bench-memory: deps $(MODULE)
	bash bench/run.sh --memory

# ---- demo -----------------------------------------------------------------------------------
demo: deps all
	@bash demo/demo.sh start

demo-stop:
	@bash demo/demo.sh stop

clean:
	rm -rf $(BUILD) t/logs t/conf/httpd.conf t/conf/*.conf t/htdocs/index.html
