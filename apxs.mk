# The build: src/ compiled without the httpd include path (so the core cannot include
# httpd headers), the glue in mod_auth0gw/ compiled and linked by apxs.

APXS     ?= $(shell command -v apxs 2>/dev/null || echo /usr/bin/apxs)
CC       ?= cc
PKGS     := apr-1 apr-util-1 jansson libcurl openssl
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs jansson openssl 2>/dev/null)

BUILD    := build
CORE_SRC := $(wildcard src/*.c)
CORE_HDR := $(wildcard src/*.h)
CORE_OBJ := $(patsubst src/%.c,$(BUILD)/core/%.o,$(CORE_SRC))
GLUE_SRC := $(wildcard mod_auth0gw/*.c)
GLUE_HDR := $(wildcard mod_auth0gw/*.h)

WARN     := -Wall -Wextra -Wno-unused-parameter -Wshadow -Wformat=2 -Wstrict-prototypes
CORE_CFLAGS := -std=c99 -D_GNU_SOURCE -O2 -g -fPIC -fstack-protector-strong $(WARN) $(PKG_CFLAGS)
# as apxs compiles the glue (and as Debian's hardening asks of the whole module)
CORE_CFLAGS += -D_FORTIFY_SOURCE=2
# Calls into libc, APR, OpenSSL and jansson go through the GOT, not through the PLT's stubs:
# the module is linked with -z now (apxs), so nothing is resolved lazily either way, and a
# request's path then touches no PLT page (2-3 of the 4 KiB pages a prefork child's TLB
# has lost at each request; `make bench-pages`)
NO_PLT   := -fno-plt
CORE_CFLAGS += $(NO_PLT)
# Nothing but the module structure is exported (mod_auth0gw.h marks it): calls between the
# module's own files are direct and its globals are reached without the GOT, and no other
# shared object can interpose on (or bind to) the module's functions.
HIDDEN   := -fvisibility=hidden
CORE_CFLAGS += $(HIDDEN)
# `make bench-cycles` builds a second module (BUILD=build/cycles CYCLES=1) that counts the
# hit path's cycles (src/agw_cycles.h); never in build/, the module that is installed
comma := ,
CYCLES_DEF :=
ifeq ($(CYCLES),1)
ifeq ($(BUILD),build)
$(error CYCLES=1 builds the instrumented module for make bench-cycles only: give BUILD=build/cycles)
endif
CYCLES_DEF := -DAGW_CYCLES
endif
CORE_CFLAGS += $(CYCLES_DEF)

MODULE   := $(BUILD)/mod_auth0gw.so

$(BUILD)/core/%.o: src/%.c $(CORE_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CORE_CFLAGS) -c -o $@ $<

# The same sources under -Werror with gcc and with clang (compile only): `make check-build`,
# part of `make test`. The default build stays without -Werror, so that a newer compiler's
# new warning does not stop an administrator's build.
GLUE_CHECK_CFLAGS := -std=c99 -D_GNU_SOURCE -O2 $(WARN) -Wno-missing-field-initializers \
                     -Werror -I$(shell $(APXS) -q INCLUDEDIR 2>/dev/null) $(PKG_CFLAGS) -Isrc
check-build:
	@for cc in gcc clang; do \
	    command -v $$cc >/dev/null || { echo "check-build: $$cc is not installed" >&2; exit 1; }; \
	    mkdir -p $(BUILD)/check-$$cc; \
	    for f in $(CORE_SRC); do \
	        $$cc $(CORE_CFLAGS) -Werror -c -o $(BUILD)/check-$$cc/core-$$(basename $$f .c).o $$f \
	            || exit 1; \
	    done; \
	    for f in $(GLUE_SRC); do \
	        $$cc $(GLUE_CHECK_CFLAGS) -c -o $(BUILD)/check-$$cc/glue-$$(basename $$f .c).o $$f \
	            || exit 1; \
	    done; \
	    $$cc $(CORE_CFLAGS) -DAGW_CYCLES -Werror -c -o $(BUILD)/check-$$cc/cycles-gate.o src/agw_gate.c \
	        && $$cc $(CORE_CFLAGS) -DAGW_CYCLES -Werror -c -o $(BUILD)/check-$$cc/cycles.o src/agw_cycles.c \
	        && $$cc $(GLUE_CHECK_CFLAGS) -DAGW_CYCLES -c -o $(BUILD)/check-$$cc/cycles-authn.o \
	            mod_auth0gw/authn.c || exit 1; \
	    echo "check-build: $$cc -Werror: $(words $(CORE_SRC)) core and $(words $(GLUE_SRC)) glue files compile clean (and the make bench-cycles build's)"; \
	done

# apxs/libtool leave .lo/.slo/.la files beside the sources; build in a scratch copy.
$(MODULE): $(GLUE_SRC) $(GLUE_HDR) $(CORE_OBJ) $(CORE_HDR)
	@mkdir -p $(BUILD)/glue
	cp $(GLUE_SRC) $(GLUE_HDR) $(BUILD)/glue/
	cd $(BUILD)/glue && $(APXS) -c -o mod_auth0gw.la \
	    -Wc,-Wall -Wc,-Wextra -Wc,-Wno-unused-parameter -Wc,-Wno-missing-field-initializers \
	    -Wc,$(NO_PLT) -Wc,$(HIDDEN) \
	    $(addprefix -Wc$(comma),$(CYCLES_DEF)) -I$(CURDIR)/src $(notdir $(GLUE_SRC)) $(addprefix $(CURDIR)/,$(CORE_OBJ)) \
	    $(PKG_LIBS) >/dev/null
	@if nm -D $(BUILD)/glue/.libs/mod_auth0gw.so | grep -E ' U agw_'; then \
	    echo "mod_auth0gw.so: core symbols above are not defined" >&2; exit 1; fi
	@# a new inode, renamed into place: a running httpd keeps its mapped copy intact
	cp $(BUILD)/glue/.libs/mod_auth0gw.so $@.tmp && mv -f $@.tmp $@
