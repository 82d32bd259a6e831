# ngx_gov_module — build, run and test.
#
#   make            install missing Debian packages, build the module
#   make run        Redis, demo department backends and nginx on 127.0.0.1:8080
#   make test       unit tests and the t/ suite against a real nginx and Redis,
#                   the tests that read bodies again over HTTP/2, then the
#                   Redis and subrequest tests with nchan loaded first and
#                   last
#   make test-neighbours  only those two runs
#   make test-asan  the same suite, module built with ASan and UBSan
#   make test-cluster  the Redis Cluster tests alone (t/18*), plain and ASan
#   make test-valgrind  the same suite with nginx under valgrind
#   make unit       C unit tests of the core only
#   make layers     the sources' includes against ngx_gov_module/LAYERS
#   make token      build/gov-token, a tool that mints JWTs, and
#                   build/gov-sign, one that signs departments' requests
#   make fuzz       libFuzzer targets, FUZZ_SECONDS each (default 30)
#   make bench      bench/progress.sh, progress-mix.sh, jwt.sh, submit.sh, ... (wrk)
#   make soak       bench/soak: ten minutes of mixed traffic, Redis restarting
#   make clean

SHELL := /bin/bash

NGINX_SRC   ?= /usr/share/nginx/src
NGINX       ?= /usr/sbin/nginx
BUILD       ?= $(CURDIR)/build
CC          ?= cc

# Packages needed to build, run and test.
DEPS = nginx nginx-dev libjwt-dev libhiredis-dev libjansson-dev \
       libpcre2-dev libssl-dev zlib1g-dev redis-server redis-tools \
       cmake dpkg-dev binutils \
       gcc make perl valgrind openssl clang libclang-rt-14-dev chromium \
       fonts-wqy-microhei

MODULE_SO   = ngx_http_gov_module.so
PLAIN_DIR   = $(BUILD)/plain
ASAN_DIR    = $(BUILD)/asan
PLAIN_SO    = $(PLAIN_DIR)/objs/$(MODULE_SO)
ASAN_SO     = $(ASAN_DIR)/objs/$(MODULE_SO)

SRCS := $(wildcard ngx_gov_module/*.c ngx_gov_module/*.h ngx_gov_module/*.map \
                   ngx_gov_module/core/*.c ngx_gov_module/core/*.h)

CORE_SRCS   = $(wildcard ngx_gov_module/core/*.c)
UNIT_SRCS   = $(wildcard t/unit/*.c)
UNIT_BINS   = $(patsubst t/unit/%.c,$(BUILD)/unit/%,$(UNIT_SRCS))
UNIT_CFLAGS = -std=c99 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Werror \
              -fsanitize=address,undefined -fno-omit-frame-pointer \
              -Ingx_gov_module/core -It/unit
UNIT_LIBS   = -ljwt -ljansson -lcrypto

CC_OPT      = -g -O2 -fstack-protector-strong -Wformat \
              -Werror=format-security -fPIC -D_FORTIFY_SOURCE=2
LD_OPT      = -Wl,-z,relro -Wl,-z,now -fPIC
ASAN_CC_OPT = -g -O1 -fPIC -fno-omit-frame-pointer \
              -fsanitize=address,undefined -fno-sanitize-recover=undefined
ASAN_LD_OPT = -fPIC -fsanitize=address,undefined

TOKEN       = $(BUILD)/gov-token
SIGN        = $(BUILD)/gov-sign
SIGN_SRCS   = ngx_gov_module/tools/gov_sign.c ngx_gov_module/core/gov_sig.c
TOKEN_SRCS  = ngx_gov_module/tools/gov_token.c \
              ngx_gov_module/core/gov_jwt.c ngx_gov_module/core/gov_b64.c \
              ngx_gov_module/core/gov_p256.c

FUZZ_SECONDS ?= 30
FUZZ_TARGETS = token jwks http mustache app calendar sig jwtdiff slot \
               multipart sniff oidc queue stats seal
FUZZ_BINS   = $(patsubst %,$(BUILD)/fuzz/fuzz_%,$(FUZZ_TARGETS))
FUZZ_CFLAGS = -g -O1 -fno-omit-frame-pointer -It/unit \
              -fsanitize=fuzzer,address,undefined -Ingx_gov_module/core

PROVE       ?= prove
PROVE_FLAGS ?= -v --timer

# t/090-neighbours.t loads every module of Debian's nginx-extras beside
# ours, and the suite runs again with Debian's nchan (which embeds its own
# hiredis) loaded before ours and after it; t/130-metrics.t holds
# gov_status to promtool (Debian's prometheus package)
TEST_DEPS   = nginx-extras prometheus libfaketime
NCHAN_SO    = /usr/lib/nginx/modules/ngx_nchan_module.so

.PHONY: test-cluster drill image-test layers jansson test-deps test-neighbours soak all deps bench-deps browser-deps build build-asan token unit test test-asan \
        test-valgrind fuzz bench run check-conf clean deb deb-test openapi-deps openapi-lint

# what the benchmarks need besides DEPS: wrk, and the nginx+Lua peer
BENCH_DEPS = wrk curl libnginx-mod-http-lua lua-nginx-redis

all: deps build token

deps:
	@missing=""; \
	for p in $(DEPS); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null \
	        | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then \
	    echo "missing Debian packages:$$missing"; \
	    echo "install them with:"; \
	    echo "    sudo apt-get update && sudo apt-get install -y$$missing"; \
	    exit 1; \
	fi; \
	echo "installing:$$missing"; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get update -qq && apt-get install -y -qq --no-install-recommends \
	    $$missing

bench-deps:
	@$(MAKE) --no-print-directory deps DEPS="$(BENCH_DEPS)"

# the browser tests: Node.js with npm (Debian's, unless there is one), and
# playwright-core from npm as pinned by t/browser/package-lock.json (it
# drives Debian's /usr/bin/chromium; no browser is downloaded)
browser-deps: deps
	@command -v npm >/dev/null || \
	    $(MAKE) --no-print-directory deps DEPS="nodejs npm"
	@node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)' \
	    || { echo "playwright-core needs Node.js 20 or later (found" \
	              "$$(node --version)): install Node.js 20, e.g. NodeSource's" \
	              "nodejs package"; exit 1; }
	@[ t/browser/node_modules/.package-lock.json -nt \
	   t/browser/package-lock.json ] || \
	    npm ci --prefix t/browser --no-audit --no-fund --loglevel=error

# the OpenAPI checks (t/140-openapi.t): Redocly's CLI and ajv from npm as
# pinned by t/openapi/package-lock.json
openapi-deps: browser-deps
	@[ t/openapi/node_modules/.package-lock.json -nt \
	   t/openapi/package-lock.json ] || \
	    npm ci --prefix t/openapi --no-audit --no-fund --loglevel=error

# lint docs/openapi.yaml on its own
openapi-lint: openapi-deps
	cd t/openapi && node node_modules/@redocly/cli/bin/cli.js lint \
	    --config redocly.yaml ../../docs/openapi.yaml

# bench/progress.sh (the four figures and three ratios), bench/progress-mix.sh
# (10,000 and 100,000 applications, uniform and Zipf, HS256 and RS256),
# bench/jwt.sh, bench/submit.sh, bench/upload.sh, bench/events.sh and
# bench/queue.sh (and its case of 30% walking away), in that order;
# results also in build/bench/
bench: all bench-deps
	bench/progress.sh
	bench/progress-mix.sh
	bench/jwt.sh
	bench/submit.sh
	bench/upload.sh
	bench/events.sh
	bench/queue.sh
	bench/queue.sh abandon
	bench/stats.sh
	bench/cluster.sh

# The failover drill (CONTRACT section 14, README "Failover drill"): two
# nodes, a master with two replicas, three sentinels, two minutes of mixed
# traffic, the master killed twice; figures in build/bench/drill.json
drill: all test-deps
	bench/drill.pl 120 "40 80"

# The Debian package, built as Debian builds its nginx modules (debian/:
# dh-sequence-nginx, the nginx_mod build system) from a copy of the tree in
# build/deb/, then held to lintian.  VERSION is the top entry of CHANGES.
DEB_DEPS    = debhelper lintian dpkg-dev cmake
VERSION    := $(shell sed -n '1s/^Changes with ngx_gov_module \([0-9.]*\).*/\1/p' CHANGES)
DEB_DATE   := $(shell sed -n '1s/^Changes with ngx_gov_module [0-9.]* *//p' CHANGES)
DEB_ARCH   := $(shell dpkg --print-architecture)
DEB_DIR     = $(BUILD)/deb
DEB         = $(DEB_DIR)/libnginx-mod-http-gov_$(VERSION)_$(DEB_ARCH).deb

deb: deps
	@$(MAKE) --no-print-directory deps DEPS="$(DEB_DEPS)"
	rm -rf $(DEB_DIR)
	mkdir -p $(DEB_DIR)/src
	tar -cf - --exclude=./build --exclude=./run --exclude=./.git \
	    --exclude=./t/browser/node_modules . | tar -xf - -C $(DEB_DIR)/src
	{ echo "libnginx-mod-http-gov ($(VERSION)) bookworm; urgency=medium"; \
	  echo; \
	  echo "  * Release $(VERSION): see CHANGES"; \
	  echo "    (/usr/share/doc/libnginx-mod-http-gov/CHANGES.gz)."; \
	  echo; \
	  echo " -- ngx_gov_module authors" \
	       "<ngx-gov-module@users.noreply.github.com>" \
	       " $$(LC_ALL=C date -R -u -d '$(DEB_DATE) 12:00')"; \
	} > $(DEB_DIR)/src/debian/changelog
	cd $(DEB_DIR)/src && dpkg-buildpackage -b -us -uc
	lintian --fail-on error,warning --info $(DEB)
	@echo "built $(DEB)"

# installs the package on this machine (apt-get install ./DEB), checks it
# through /etc/nginx/modules-enabled/, serves its example, purges it and
# looks for anything left behind: as root, on a machine where that is fine
deb-test: deb
	GOV_DEB=$(DEB) prove -v t/package/deb.t

# The container image built from the Dockerfile and run with podman (runc),
# on a debian:bookworm base made with debootstrap; checked from outside,
# then stopped (t/package/image.t; about ten minutes the first time)
IMAGE_DEPS  = podman runc debootstrap
image-test: all
	@$(MAKE) --no-print-directory deps DEPS="$(IMAGE_DEPS)"
	prove -v t/package/image.t

# ten minutes (SOAK_SECONDS) of logins, submissions, lookups and callbacks
# while Redis restarts twice; the report is also in build/bench/soak.txt
SOAK_SECONDS ?= 600

soak: all
	bench/soak $(SOAK_SECONDS)

build: $(PLAIN_SO)

# gov-token: mints tokens for operators and load testers; gov-sign: signs
# a department's request (X-Gov-Signature v2)
token: $(TOKEN) $(SIGN)

$(SIGN): $(SIGN_SRCS) ngx_gov_module/core/gov_sig.h
	@mkdir -p $(BUILD)
	$(CC) -std=c99 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror \
	    -Ingx_gov_module/core -o $@ $(SIGN_SRCS) -lcrypto

$(TOKEN): $(TOKEN_SRCS) $(wildcard ngx_gov_module/core/*.h)
	@mkdir -p $(BUILD)
	$(CC) -std=c99 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror \
	    -Ingx_gov_module/core -o $@ $(TOKEN_SRCS) -ljwt -ljansson -lcrypto

build-asan: $(ASAN_SO)

# jansson as a position-independent archive, from Debian's source package
# of the installed libjansson-dev (Debian's own libjansson.a is not PIC);
# the module links it with its symbols kept local (see config)
JANSSON_A   = $(BUILD)/jansson/lib/libjansson.a

jansson: $(JANSSON_A)

$(JANSSON_A): ngx_gov_module/tools/build-jansson.sh
	ngx_gov_module/tools/build-jansson.sh $(BUILD)/jansson

# configure from a copy of Debian's nginx sources, never inside them
$(PLAIN_DIR)/objs/Makefile: config $(JANSSON_A)
	rm -rf $(PLAIN_DIR) && mkdir -p $(BUILD)
	cp -a $(NGINX_SRC) $(PLAIN_DIR)
	cd $(PLAIN_DIR) && source ./conf_flags && \
	    ./configure "$${NGX_CONF_FLAGS[@]}" \
	        --with-cc-opt="$(CC_OPT)" --with-ld-opt="$(LD_OPT)" \
	        --add-dynamic-module=$(CURDIR) > configure.log

$(ASAN_DIR)/objs/Makefile: config $(JANSSON_A)
	rm -rf $(ASAN_DIR) && mkdir -p $(BUILD)
	cp -a $(NGINX_SRC) $(ASAN_DIR)
	cd $(ASAN_DIR) && source ./conf_flags && \
	    ./configure "$${NGX_CONF_FLAGS[@]}" \
	        --with-cc-opt="$(ASAN_CC_OPT)" --with-ld-opt="$(ASAN_LD_OPT)" \
	        --add-dynamic-module=$(CURDIR) > configure.log

$(PLAIN_SO): $(PLAIN_DIR)/objs/Makefile $(SRCS)
	$(MAKE) -C $(PLAIN_DIR) -f objs/Makefile modules

$(ASAN_SO): $(ASAN_DIR)/objs/Makefile $(SRCS)
	$(MAKE) -C $(ASAN_DIR) -f objs/Makefile modules

$(BUILD)/unit/%: t/unit/%.c $(CORE_SRCS) $(wildcard t/unit/*.h)
	@mkdir -p $(BUILD)/unit
	$(CC) $(UNIT_CFLAGS) -o $@ $< $(CORE_SRCS) $(UNIT_LIBS)

# libFuzzer targets of the core; each runs FUZZ_SECONDS on the committed
# seeds in fuzz/corpus/NAME, new inputs go to build/fuzz/corpus-NAME
$(BUILD)/fuzz/fuzz_%: fuzz/fuzz_%.c $(CORE_SRCS) $(wildcard ngx_gov_module/core/*.h t/unit/*.h)
	@mkdir -p $(BUILD)/fuzz
	clang $(FUZZ_CFLAGS) -o $@ $< $(CORE_SRCS) -ljwt -ljansson -lcrypto

fuzz: deps $(FUZZ_BINS)
	@for t in $(FUZZ_TARGETS); do \
	    mkdir -p $(BUILD)/fuzz/corpus-$$t; \
	    echo "fuzz_$$t: $(FUZZ_SECONDS)s"; \
	    $(BUILD)/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
	        -print_final_stats=1 $(BUILD)/fuzz/corpus-$$t fuzz/corpus/$$t \
	        2>$(BUILD)/fuzz/fuzz_$$t.log || { tail -50 $(BUILD)/fuzz/fuzz_$$t.log; exit 1; }; \
	    grep -E '^stat::number_of_executed_units|^#[0-9]+.*DONE' \
	        $(BUILD)/fuzz/fuzz_$$t.log | tail -2; \
	done

unit: $(UNIT_BINS)
	$(PROVE) $(PROVE_FLAGS) --exec '' $(UNIT_BINS)

test-deps:
	@$(MAKE) --no-print-directory deps DEPS="$(TEST_DEPS)"

# every #include of the sources against the floors of ngx_gov_module/LAYERS
layers:
	perl t/layers.pl ngx_gov_module

# the tests that read bodies (uploads, forms, corrections, supplements,
# withdrawals, callbacks, progress, and the Chromium journey once), again
# over HTTPS and HTTP/2 (t/101-bodies.t loops over both by itself)
H2_TESTS    = t/030-bundles.t t/040-progress.t t/050-pages.t \
              t/060-browser.t t/100-upload.t t/110-correction.t \
              t/111-withdrawal.t t/173-promises.t

# under ASan, the HTTP/2 pass leaves out the Chromium journey too (see
# ASAN_TESTS): its bodies are the forms and uploads the other tests of the
# pass send over HTTP/2 under ASan
ASAN_H2_TESTS = $(filter-out t/060-browser.t,$(H2_TESTS))

test: layers all test-deps browser-deps openapi-deps unit
	TEST_NGINX_MODULE=$(PLAIN_SO) $(PROVE) $(PROVE_FLAGS) t/
	TEST_NGINX_MODULE=$(PLAIN_SO) TEST_GOV_PROTO=h2 \
	    $(PROVE) $(PROVE_FLAGS) $(H2_TESTS)
	@$(MAKE) --no-print-directory test-neighbours

# the whole suite with nchan loaded before our module, then after it
# What a neighbour can break: nchan embeds its own hiredis (symbols that
# could bind our Redis client to the wrong library) and has filters of its
# own.  These tests run every path of the Redis client (connections,
# pipelines and reconnects, sessions, client-side tracking, WAIT,
# Sentinel, Cluster, streams) and every subrequest user and body filter
# (dispatch, status refresh, notify targets, e-licences, the identity
# provider, uploads), with t/001 and t/090 for loading; the rest of the
# suite adds flows on top of the same paths, not paths of its own, and
# runs once in "make test" and once under ASan.  NEIGHBOUR_TESTS=t/ runs
# the whole suite beside nchan.
#
# The module carries its own hiredis, hidden (linked statically,
# --exclude-libs, a version script exporting the module alone) and is
# linked -z now: its Redis calls are bound at load to its own copy, in
# either order.  The tests of the Redis client alone (NEIGHBOUR_REDIS)
# check that with nchan loaded first, where nchan's symbols are in the
# global scope before ours; filters chain in load order, so the
# subrequest and body tests run in both orders.
NEIGHBOUR_REDIS  = t/010-redis.t t/021-session.t t/043-tracking.t \
                   t/071-wait.t t/072-sentinel.t t/180-cluster.t
NEIGHBOUR_TESTS ?= t/001-load.t t/023-oidc.t t/030-bundles.t \
                   t/041-refresh.t t/090-neighbours.t t/100-upload.t \
                   t/120-events.t t/121-notify.t t/171-elicense.t \
                   $(NEIGHBOUR_REDIS)

test-neighbours: all test-deps browser-deps openapi-deps
	TEST_NGINX_MODULE=$(PLAIN_SO) TEST_NGINX_LOAD_FIRST=$(NCHAN_SO) \
	    $(PROVE) $(PROVE_FLAGS) $(NEIGHBOUR_TESTS)
	TEST_NGINX_MODULE=$(PLAIN_SO) TEST_NGINX_LOAD_LAST=$(NCHAN_SO) \
	    $(PROVE) $(PROVE_FLAGS) $(filter-out $(NEIGHBOUR_REDIS),$(NEIGHBOUR_TESTS))

# under ASan, the suite but the Chromium journey (two minutes there): its
# requests are the pages, forms, uploads and ratings the rest of the suite
# sends under ASan; it runs plainly and over HTTP/2 in "make test"
ASAN_TESTS = $(filter-out t/060-browser.t,$(wildcard t/*.t))

test-asan: deps test-deps browser-deps openapi-deps build-asan token unit
	TEST_NGINX_MODULE=$(ASAN_SO) \
	TEST_NGINX_PRELOAD="$$($(CC) -print-file-name=libasan.so) \
	                    $$($(CC) -print-file-name=libubsan.so)" \
	    $(PROVE) $(PROVE_FLAGS) $(ASAN_TESTS)
	TEST_NGINX_MODULE=$(ASAN_SO) TEST_GOV_PROTO=h2 \
	TEST_NGINX_PRELOAD="$$($(CC) -print-file-name=libasan.so) \
	                    $$($(CC) -print-file-name=libubsan.so)" \
	    $(PROVE) $(PROVE_FLAGS) $(ASAN_H2_TESTS)

# Redis Cluster (issue #19): the loopback cluster tests, plain then ASan
test-cluster: all build-asan test-deps token
	TEST_NGINX_MODULE=$(PLAIN_SO) $(PROVE) $(PROVE_FLAGS) t/180-cluster.t \
	    t/181-cluster-drill.t
	TEST_NGINX_MODULE=$(ASAN_SO) \
	TEST_NGINX_PRELOAD="$$($(CC) -print-file-name=libasan.so) \
	                    $$($(CC) -print-file-name=libubsan.so)" \
	    $(PROVE) $(PROVE_FLAGS) t/180-cluster.t t/181-cluster-drill.t

test-valgrind: all test-deps browser-deps openapi-deps
	TEST_NGINX_MODULE=$(PLAIN_SO) TEST_NGINX_VALGRIND=1 \
	    $(PROVE) $(PROVE_FLAGS) t/

check-conf: all
	conf/demo/run.sh --check

run: all
	conf/demo/run.sh

clean:
	rm -rf $(BUILD)
