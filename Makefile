# mod_auth0gw: `make` builds the module, `make test` runs every test, `make demo` the walk-through.
all:
include apxs.mk

.PHONY: all check-build deps unit unit-asan integration test fuzz fuzz-smoke coverage coverage-unit fuzz-replay bench-core bench bench-memory bench-instructions bench-pages bench-graceful bench-child-memory bench-cycles soak demo demo-stop clean install uninstall deb

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

# The HTTP client without a usable libcurl: the core built with a soname no system has, run
# with nothing of that name on the library path, then with stand-ins for libcurl under that
# name (t/unit/libcurl/test_libcurl.c says what each one does).
LIBCURL_TEST := $(BUILD)/unit_libcurl
FAKECURL_MODES := old refuses refuses-post noproxy
FAKECURL_FLAGS_old := '-DFAKE_VERSION="7.74.0"' -DFAKE_VERSION_NUM=0x074a00
FAKECURL_FLAGS_refuses := '-DFAKE_VERSION="7.88.0"' -DFAKE_VERSION_NUM=0x075800 \
    -DFAKE_REFUSED=CURLOPT_PROTOCOLS_STR
FAKECURL_FLAGS_refuses-post := '-DFAKE_VERSION="7.88.0"' -DFAKE_VERSION_NUM=0x075800 \
    -DFAKE_REFUSED=CURLOPT_POSTFIELDS
FAKECURL_FLAGS_noproxy := '-DFAKE_VERSION="7.88.0"' -DFAKE_VERSION_NUM=0x075800 \
    -DFAKE_REFUSED=CURLOPT_NOPROXY -DFAKE_PERFORM=CURLE_COULDNT_CONNECT
FAKECURL_LIBS := $(foreach m,$(FAKECURL_MODES),$(BUILD)/fakecurl/$(m)/libagw-fakecurl.so)

$(LIBCURL_TEST): t/unit/libcurl/test_libcurl.c $(CORE_SRC) $(CORE_HDR)
	@mkdir -p $(BUILD)
	$(CC) $(CORE_CFLAGS) '-DAGW_LIBCURL_SONAME="libagw-fakecurl.so"' -Isrc -o $@ $< $(CORE_SRC) \
	    $(UNIT_LIBS)

$(BUILD)/fakecurl/%/libagw-fakecurl.so: t/unit/libcurl/fakecurl.c
	@mkdir -p $(@D)
	$(CC) $(CORE_CFLAGS) -fvisibility=default -shared $(FAKECURL_FLAGS_$*) -o $@ $<

unit: $(BUILD)/unit_tests $(LIBCURL_TEST) $(FAKECURL_LIBS)
	cd t/unit && CK_FORK=yes ../../$(BUILD)/unit_tests
	LD_LIBRARY_PATH=/nonexistent $(LIBCURL_TEST) absent
	for m in $(FAKECURL_MODES); do \
	    LD_LIBRARY_PATH=$(BUILD)/fakecurl/$$m $(LIBCURL_TEST) $$m || exit 1; \
	done

unit-asan: $(BUILD)/unit_tests_asan
	cd t/unit && CK_FORK=no ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	    ../../$(BUILD)/unit_tests_asan

# ---- integration tests (Apache::Test against a real httpd) ---------------------------------
# MPM=event|worker|prefork: the MPM of every httpd in the suite; TESTS=files or directories
# (default: all). The subset CI also runs under prefork and worker is MPM_SUBSET.
MPM ?= event
TESTS ?=
MPM_SUBSET := t/authn t/authz t/proxy t/directives/03-graceful.t t/directives/09-child-exit.t \
              t/directives/10-group-lookup.t

integration: $(MODULE)
	AGW_MPM=$(MPM) bash t/run-integration.sh $(TESTS)

# The suite against a module built with ASan + UBSan (build/asan/mod_auth0gw.so), in an httpd
# with gcc's ASan runtime preloaded (t/fixtures/asan-httpd.sh); any report fails the run.
ASAN_BUILD  := $(BUILD)/asan
ASAN_MODULE := $(ASAN_BUILD)/mod_auth0gw.so
# -U_FORTIFY_SOURCE: the __*_chk functions fortify calls instead of memcpy & co. are not
# all intercepted by ASan, which would then not see those accesses.
# gcc, whatever CC is: t/run-asan.sh preloads gcc's runtime (gcc -print-file-name=libasan.so)
ASAN_CC     := gcc
ASAN_FLAGS  := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -U_FORTIFY_SOURCE
ASAN_CORE_OBJ := $(patsubst src/%.c,$(ASAN_BUILD)/core/%.o,$(CORE_SRC))
ASAN_GLUE_OBJ := $(patsubst mod_auth0gw/%.c,$(ASAN_BUILD)/glue/%.o,$(GLUE_SRC))
ASAN_GLUE_CFLAGS := $(shell $(APXS) -q CFLAGS 2>/dev/null) $(shell $(APXS) -q EXTRA_CPPFLAGS 2>/dev/null) \
                    -I$(shell $(APXS) -q INCLUDEDIR 2>/dev/null) $(PKG_CFLAGS) -Isrc -fPIC \
                    -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers

$(ASAN_BUILD)/core/%.o: src/%.c $(CORE_HDR)
	@mkdir -p $(dir $@)
	$(ASAN_CC) $(CORE_CFLAGS) $(ASAN_FLAGS) -c -o $@ $<

$(ASAN_BUILD)/glue/%.o: mod_auth0gw/%.c $(GLUE_HDR) $(CORE_HDR)
	@mkdir -p $(dir $@)
	$(ASAN_CC) $(ASAN_GLUE_CFLAGS) $(ASAN_FLAGS) -c -o $@ $<

$(ASAN_MODULE): $(ASAN_GLUE_OBJ) $(ASAN_CORE_OBJ)
	$(ASAN_CC) -shared $(ASAN_FLAGS) -o $@.tmp $^ $(PKG_LIBS)
	@if nm -D $@.tmp | grep -E ' U agw_'; then \
	    echo "$@: core symbols above are not defined" >&2; rm -f $@.tmp; exit 1; fi
	mv -f $@.tmp $@

.PHONY: integration-asan integration-valgrind
integration-asan: $(ASAN_MODULE)
	AGW_MPM=$(MPM) bash t/run-asan.sh $(TESTS)

# A few flows (valid and refused tokens, a proxied client token cached in real Redis and
# memcached) against `apache2 -X` under valgrind: no error, nothing definitely lost.
integration-valgrind: $(MODULE)
	bash t/valgrind.sh

test: deps
	$(MAKE) all
	$(MAKE) check-build
	$(MAKE) unit
	$(MAKE) unit-asan
	$(MAKE) fuzz-smoke
	$(MAKE) integration

# ---- coverage (gcov + lcov): line and branch coverage of src/ and mod_auth0gw/ ---------------
# An instrumented copy in build/cov (core and glue at -O0 --coverage), the unit tests and the
# integration suite run against it, lcov's summary per directory, failing under the floors
# in t/coverage.sh. `make coverage-unit`: the unit tests only (src/ floor only).
COV        := $(BUILD)/cov
COV_CFLAGS := $(filter-out -O2 -D_FORTIFY_SOURCE=2,$(CORE_CFLAGS)) -O0 --coverage -fprofile-update=atomic
COV_OBJ    := $(patsubst src/%.c,$(COV)/core/%.o,$(CORE_SRC))

$(COV)/core/%.o: src/%.c $(CORE_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(COV_CFLAGS) -c -o $@ $<

$(COV)/unit_tests: $(UNIT_SRC) $(wildcard t/unit/*.h) $(COV_OBJ)
	$(CC) $(COV_CFLAGS) -Isrc -It/unit -o $@ $(UNIT_SRC) $(COV_OBJ) $(UNIT_LIBS)

$(COV)/mod_auth0gw.so: $(GLUE_SRC) $(GLUE_HDR) $(COV_OBJ) $(CORE_HDR)
	@mkdir -p $(COV)/glue
	cp $(GLUE_SRC) $(GLUE_HDR) $(COV)/glue/
	cd $(COV)/glue && $(APXS) -c -o mod_auth0gw.la -Wc,-O0 -Wc,--coverage -Wc,-fprofile-update=atomic -Wc,-DAGW_COVERAGE -Wc,-Wno-missing-field-initializers \
	    -I$(CURDIR)/src $(notdir $(GLUE_SRC)) $(addprefix $(CURDIR)/,$(COV_OBJ)) \
	    $(PKG_LIBS) -lgcov >/dev/null
	cp $(COV)/glue/.libs/mod_auth0gw.so $@

# t/unit/libcurl's program, on instrumented objects: agw_http.c compiled again with the
# stand-ins' soname (its counters add up with the other copy's in lcov's report)
$(COV)/libcurl/agw_http.o: src/agw_http.c $(CORE_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(COV_CFLAGS) '-DAGW_LIBCURL_SONAME="libagw-fakecurl.so"' -c -o $@ $<

$(COV)/unit_libcurl: t/unit/libcurl/test_libcurl.c $(COV)/libcurl/agw_http.o $(COV_OBJ)
	$(CC) $(COV_CFLAGS) '-DAGW_LIBCURL_SONAME="libagw-fakecurl.so"' -Isrc -o $@ $< \
	    $(COV)/libcurl/agw_http.o $(filter-out $(COV)/core/agw_http.o,$(COV_OBJ)) $(UNIT_LIBS)

COV_UNIT := $(COV)/unit_tests $(COV)/unit_libcurl $(FAKECURL_LIBS)

coverage: $(COV_UNIT) $(COV)/mod_auth0gw.so
	bash t/coverage.sh

coverage-unit: $(COV_UNIT)
	bash t/coverage.sh --unit-only

# ---- fuzzing (libFuzzer, clang) ------------------------------------------------------------
FUZZ_CFLAGS := -std=c99 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all $(PKG_CFLAGS) -Isrc
FUZZ_TIME ?= 60

$(BUILD)/fuzz_%: fuzz/fuzz_%.c $(CORE_SRC) $(CORE_HDR)
	@mkdir -p $(BUILD)
	clang $(FUZZ_CFLAGS) -o $@ $< $(CORE_SRC) $(shell pkg-config --libs apr-1 apr-util-1) $(PKG_LIBS)

fuzz: $(BUILD)/fuzz_token $(BUILD)/fuzz_jwks $(BUILD)/fuzz_json
	@mkdir -p $(BUILD)/corpus/token $(BUILD)/corpus/jwks $(BUILD)/corpus/json
	$(BUILD)/fuzz_token -max_total_time=$(FUZZ_TIME) -max_len=20000 $(BUILD)/corpus/token fuzz/corpus/token fuzz/seeds/token
	$(BUILD)/fuzz_jwks -max_total_time=$(FUZZ_TIME) -max_len=20000 $(BUILD)/corpus/jwks fuzz/corpus/jwks fuzz/seeds/jwks
	$(BUILD)/fuzz_json -max_total_time=$(FUZZ_TIME) -max_len=4096 -dict=fuzz/json.dict $(BUILD)/corpus/json fuzz/corpus/json fuzz/seeds/json
	$(MAKE) fuzz-more

# Targets past the signature and for the other parsers of outside input; each starts from its
# minimized corpus in the tree (fuzz/corpus/NAME, read only: finds go to build/corpus/NAME;
# fold them in with `-merge=1` now and then, keeping it to a few hundred small files).
FUZZ_MORE := token_signed client discovery records claimpath dpop gate
.PHONY: fuzz-more
fuzz-more: $(addprefix $(BUILD)/fuzz_,$(FUZZ_MORE))
	@set -e; for t in $(FUZZ_MORE); do \
	    mkdir -p $(BUILD)/corpus/$$t; \
	    echo "fuzz: $$t for $(FUZZ_TIME) s"; \
	    $(BUILD)/fuzz_$$t -max_total_time=$(FUZZ_TIME) -max_len=20000 -dict=fuzz/json.dict \
	        -artifact_prefix=$(BUILD)/corpus/$$t- $(BUILD)/corpus/$$t fuzz/corpus/$$t; \
	done

# Every input of the corpora in the tree run once (seconds): a fix that regresses fails here.
FUZZ_ALL := token jwks json $(FUZZ_MORE)
fuzz-replay: $(addprefix $(BUILD)/fuzz_,$(FUZZ_ALL))
	@set -e; for t in $(FUZZ_ALL); do \
	    dirs=""; for d in fuzz/corpus/$$t fuzz/seeds/$$t; do if [ -d $$d ]; then dirs="$$dirs $$d"; fi; done; \
	    out=$$($(BUILD)/fuzz_$$t -runs=0 -max_len=20000 $$dirs 2>&1) \
	        || { echo "$$out" | tail -n 60 >&2; echo "fuzz-replay: $$t failed on an input above" >&2; exit 1; }; \
	    echo "$$out" | sed -n "s|^#[0-9]*[[:space:]]*DONE[[:space:]]*|fuzz-replay $$t: |p"; \
	done

fuzz-smoke: fuzz-replay
	$(MAKE) fuzz FUZZ_TIME=15

# ---- core benchmark (not a test) -----------------------------------------------------------
$(BUILD)/bench_core: bench/bench_core.c $(CORE_SRC) $(CORE_HDR)
	@mkdir -p $(BUILD)
	$(CC) $(CORE_CFLAGS) -Isrc -o $@ bench/bench_core.c $(CORE_SRC) \
	    $(shell pkg-config --libs apr-1 apr-util-1) $(PKG_LIBS)

bench-core: $(BUILD)/bench_core
	$(BUILD)/bench_core

# ---- against plain Apache and (PEERS=1) mod_oauth2 / mod_auth_openidc (not a test) ----------
# MPM=event|worker|prefork: the MPM of every instance (default event). bench-graceful and
# bench-child-memory run under prefork (32 children) unless MPM is given (only prefork works).
# BASELINE=path/to/other/mod_auth0gw.so: that build measured beside this one in the same rounds.
# BUILDS="NAME=path/to/mod_auth0gw.so ...": more builds, on the Zipf mix only (bench/run.sh).
PEERS ?= 0
BENCH_MPM_ARG = $(if $(filter command line environment,$(origin MPM)),BENCH_MPM=$(MPM))
bench: deps $(MODULE)
	PEERS=$(PEERS) BENCH_MPM=$(MPM) BASELINE=$(BASELINE) BENCH_BUILDS="$(BUILDS)" bash bench/run.sh

bench-memory: deps $(MODULE)
	bash bench/run.sh --memory

bench-instructions: deps $(MODULE)
	BENCH_MPM=$(MPM) BASELINE=$(BASELINE) bash bench/run.sh --instructions

bench-pages: deps $(MODULE)
	BENCH_MPM=$(MPM) BASELINE=$(BASELINE) bash bench/run.sh --pages

bench-graceful: deps $(MODULE)
	$(BENCH_MPM_ARG) BASELINE=$(BASELINE) bash bench/run.sh --graceful

bench-child-memory: deps $(MODULE)
	$(BENCH_MPM_ARG) BASELINE=$(BASELINE) bash bench/run.sh --child-memory

# The hit path's steps in cycles (bench/cycles.sh), by a second build that counts them:
# build/cycles/mod_auth0gw.so. BUILDS="NAME=PATH ...": other CYCLES=1 builds beside it.
bench-cycles: deps $(MODULE)
	$(MAKE) BUILD=build/cycles CYCLES=1 build/cycles/mod_auth0gw.so
	$(BENCH_MPM_ARG) bash bench/cycles.sh $(BUILDS)

# ---- soak: mixed load, rotations, issuer flaps, graceful restarts (not a test) -------------
SOAK_MINUTES ?= 10
SOAK_ROTATE ?= 60
SOAK_RESTART ?= 120
SOAK_FLAP ?= 20
soak: deps $(MODULE)
	SOAK_MINUTES=$(SOAK_MINUTES) SOAK_ROTATE=$(SOAK_ROTATE) SOAK_RESTART=$(SOAK_RESTART) \
	    SOAK_FLAP=$(SOAK_FLAP) bash bench/soak.sh

# ---- demo -----------------------------------------------------------------------------------
demo: deps all
	@bash demo/demo.sh start

demo-stop:
	@bash demo/demo.sh stop

# ---- installing and packaging ----------------------------------------------------------------
# The version is written once, in src/agw_version.h.
VERSION    := $(shell sed -n 's/^.define AGW_VERSION "\(.*\)"$$/\1/p' src/agw_version.h)
LIBEXECDIR := $(shell $(APXS) -q LIBEXECDIR 2>/dev/null)
APACHE_CONFDIR := $(shell $(APXS) -q SYSCONFDIR 2>/dev/null)
# Debian's layout: a2enmod reads mods-available/NAME.load (and NAME.conf).
MODS_AVAILABLE := $(APACHE_CONFDIR)/mods-available

# DESTDIR=/some/root installs into a staging tree; an edited auth0gw.conf is kept.
install: $(MODULE)
	@test -n "$(LIBEXECDIR)" || { echo "make install: \`$(APXS) -q LIBEXECDIR\` gave nothing: install apache2-dev (apxs)" >&2; exit 1; }
	install -d "$(DESTDIR)$(LIBEXECDIR)"
	install -m 644 $(MODULE) "$(DESTDIR)$(LIBEXECDIR)/mod_auth0gw.so"
	@if [ -d "$(MODS_AVAILABLE)" ]; then \
	    set -e; \
	    install -d "$(DESTDIR)$(MODS_AVAILABLE)"; \
	    sed 's|/usr/lib/apache2/modules/|$(LIBEXECDIR)/|' debian/auth0gw.load >"$(DESTDIR)$(MODS_AVAILABLE)/auth0gw.load"; \
	    chmod 644 "$(DESTDIR)$(MODS_AVAILABLE)/auth0gw.load"; \
	    echo "installed $(DESTDIR)$(MODS_AVAILABLE)/auth0gw.load"; \
	    if [ -e "$(DESTDIR)$(MODS_AVAILABLE)/auth0gw.conf" ] \
	       && ! cmp -s debian/auth0gw.conf "$(DESTDIR)$(MODS_AVAILABLE)/auth0gw.conf"; then \
	        echo "kept $(DESTDIR)$(MODS_AVAILABLE)/auth0gw.conf (edited); ours: debian/auth0gw.conf"; \
	    else \
	        install -m 644 debian/auth0gw.conf "$(DESTDIR)$(MODS_AVAILABLE)/auth0gw.conf"; \
	        echo "installed $(DESTDIR)$(MODS_AVAILABLE)/auth0gw.conf (all commented out)"; \
	    fi; \
	    echo "mod_auth0gw $(VERSION) installed: enable it with  a2enmod auth0gw && systemctl reload apache2"; \
	else \
	    echo "mod_auth0gw $(VERSION) installed: add to httpd.conf  LoadModule auth0gw_module $(LIBEXECDIR)/mod_auth0gw.so"; \
	fi

uninstall:
	rm -f "$(DESTDIR)$(LIBEXECDIR)/mod_auth0gw.so" "$(DESTDIR)$(MODS_AVAILABLE)/auth0gw.load"
	@if [ -e "$(DESTDIR)$(MODS_AVAILABLE)/auth0gw.conf" ]; then \
	    if cmp -s debian/auth0gw.conf "$(DESTDIR)$(MODS_AVAILABLE)/auth0gw.conf"; then \
	        rm -f "$(DESTDIR)$(MODS_AVAILABLE)/auth0gw.conf"; \
	    else echo "kept $(DESTDIR)$(MODS_AVAILABLE)/auth0gw.conf (edited)"; fi; \
	fi

# The Debian package, built by debhelper + dh_apache2 in a copy of the tree whose
# debian/changelog is written here from VERSION, then checked by lintian (errors fail).
DEB_NAME   := libapache2-mod-auth0gw
DEB_DIR    := $(BUILD)/deb
DEB_STAGE  := $(DEB_DIR)/$(DEB_NAME)-$(VERSION)
DEB_ARCH   := $(shell dpkg-architecture -qDEB_HOST_ARCH 2>/dev/null)
DEB        := $(DEB_DIR)/$(DEB_NAME)_$(VERSION)_$(DEB_ARCH).deb
DEB_TREE   := Makefile apxs.mk src mod_auth0gw conf debian LICENSE CHANGELOG.md README.md SECURITY.md

deb:
	@test -n "$(VERSION)" || { echo "make deb: no AGW_VERSION in src/agw_version.h" >&2; exit 1; }
	@for tool in dpkg-buildpackage dh dh_apache2 fakeroot; do \
	    command -v $$tool >/dev/null || { echo "make deb: $$tool not found: run \`make deps\` as root (PACKAGE_PKGS in .ci/deps.sh)" >&2; exit 1; }; \
	done
	rm -rf $(DEB_DIR)
	mkdir -p $(DEB_STAGE)
	cp -R $(DEB_TREE) $(DEB_STAGE)/
	@maintainer="$$(sed -n 's/^Maintainer: //p' debian/control)"; \
	date="$$(git log -1 --format=%aD 2>/dev/null || date -R)"; \
	printf '%s (%s) unstable; urgency=medium\n\n  * Release %s: what changed is in CHANGELOG.md, beside this file.\n\n -- %s  %s\n' \
	    $(DEB_NAME) $(VERSION) $(VERSION) "$$maintainer" "$$date" >$(DEB_STAGE)/debian/changelog
	cd $(DEB_STAGE) && dpkg-buildpackage -b -uc -us
	@test -f $(DEB) || { echo "make deb: $(DEB) was not made" >&2; exit 1; }
	@if command -v lintian >/dev/null; then \
	    echo "lintian $(DEB):"; \
	    lintian --fail-on error --display-info $(DEB) || { echo "make deb: lintian found errors (above)" >&2; exit 1; }; \
	else echo "make deb: lintian not installed: package not checked" >&2; fi
	@echo "built $(DEB)"

clean:
	rm -rf $(BUILD) t/logs t/conf/httpd.conf t/conf/*.conf t/htdocs/index.html
