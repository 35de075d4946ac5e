# linux-patch-api: build, test, package and try the agent.
# `make demo` and `make test` are the README's quick start; keep them true.
#
#   make build     debug build (target/debug)
#   make release   optimised build for this host (target/release)
#   make static    static binary (glibc static-pie, or musl when that target is installed)
#   make packages  static + deb + rpm + apk into target/packages/ (and an older build of
#                  them into target/packages/old/, for the upgrade tests)
#   make test      packages, demo check, every test (given the packages' paths), then test-apk
#   make contract  the live agent against docs/openapi.yaml with schemathesis (docs/CONTRACT.md)
#   make fuzz      every fuzz target (fuzz/) for FUZZ_SECONDS each (default 180); the
#                  figures go in docs/FUZZING.md. Needs cargo-fuzz
#   make fuzz-smoke every fuzz target for FUZZ_SMOKE_SECONDS (default 5) from the seed
#                  corpora (part of `make test`)
#   make test-apk  the apk backend and the project's .apk against the real apk-tools 2.14.10
#                  and 3.0.6 (built static once, cached outside the checkout)
#   make apk       the .apk, unsigned; APK_KEY=path/to/NAME.rsa signs it (abuild-sign's way)
#   make install   binary, man pages, example configuration, systemd unit (OPENRC=1: the
#                  OpenRC script too); honours DESTDIR and PREFIX
#   make clean

CARGO   ?= cargo
PREFIX  ?= /usr
DESTDIR ?=
SYSTEMD_UNIT_DIR ?= /lib/systemd/system
OPENRC  ?=
BIN     := linux-patch-api
VERSION ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
# The older build `make test` upgrades from; its shipped configuration differs a little, as
# a real older release's would, so that upgrades exercise conffile handling.
OLD_VERSION := 0.0.1
PKGDIR  ?= target/packages
# Where the packaged configuration comes from (the older test build uses a modified copy).
ETCDIR  ?= etc
# The project's home page, for package metadata that wants one (.PKGINFO url).
URL     ?= https://linux-patch-api.invalid/
# The RSA private key `make apk` signs with (NAME.rsa; hosts trust /etc/apk/keys/NAME.rsa.pub).
# Empty: the .apk is unsigned, and the build says so.
APK_KEY ?=

# musl when its target is installed (fully static, no glibc at all), else glibc static-pie.
MUSL := $(shell rustup target list --installed 2>/dev/null | grep -x x86_64-unknown-linux-musl)
STATIC_TARGET ?= $(if $(MUSL),x86_64-unknown-linux-musl,x86_64-unknown-linux-gnu)
STATIC_BIN := target/$(STATIC_TARGET)/release/$(BIN)
RELEASE_BIN := target/release/$(BIN)

DEB := $(PKGDIR)/$(BIN)_$(VERSION)-1_amd64.deb
RPM := $(PKGDIR)/$(BIN)-$(VERSION)-1.x86_64.rpm
APK := $(PKGDIR)/$(BIN)-$(VERSION)-r0.apk

# $(call need,tool,debian-package): fail loudly, naming the package that provides the tool.
need = @command -v $(1) >/dev/null 2>&1 || { echo "make $@: $(1) is missing (Debian package: $(2))" >&2; exit 1; }

.PHONY: all build release static packages deb rpm apk old-packages test test-apk contract lint demo install clean bench bench-updateinfo fuzz fuzz-smoke

all: build

build:
	$(call need,$(CARGO),cargo or rustup)
	$(CARGO) build

release:
	$(call need,$(CARGO),cargo or rustup)
	$(CARGO) build --release

# Runs on minimal hosts and in an empty root (tests/static_binary.rs proves it). The flags
# apply to the named target only, so build scripts and the debug build are unaffected.
# getrandom_backend: getrandom (uuid's) finds glibc's getrandom() through dlsym, which a
# static binary lacks, and would fall back to /dev/urandom: absent in an empty root, where
# the first request id then panics. Calling getrandom() directly needs no file.
# pack-relative-relocs: the static-pie's 6,000 relative relocations as DT_RELR (a few KiB)
# instead of 24-byte RELA entries (150 KiB); glibc 2.36's start-up applies them itself.
STATIC_RUSTFLAGS := -C target-feature=+crt-static --cfg getrandom_backend="linux_getrandom" \
	-C link-arg=-Wl,-z,pack-relative-relocs
static:
	$(call need,$(CARGO),cargo or rustup)
	$(call need,file,file)
	RUSTFLAGS='$(STATIC_RUSTFLAGS)' $(CARGO) build --release --target $(STATIC_TARGET)
	@file -L $(STATIC_BIN) | grep -Eq 'static(-pie)? linked|statically linked' || \
		{ echo "make static: $(STATIC_BIN) is not statically linked" >&2; exit 1; }
	@ls -l $(STATIC_BIN)

# The older build (old-packages) is made too: tests/packaging.rs upgrades from it.
packages: static
	@$(MAKE) --no-print-directory deb rpm apk STATIC_DONE=1
	@$(MAKE) --no-print-directory old-packages STATIC_DONE=1

# Packages are built from the static binary. STATIC_DONE=1 skips re-checking it (cargo's
# no-op build still costs a few seconds).
ifeq ($(STATIC_DONE),)
deb rpm apk: static
endif

deb:
	$(call need,dpkg-deb,dpkg)
	$(call need,gzip,gzip)
	$(call need,md5sum,coreutils)
	sh packaging/deb/build-deb.sh $(STATIC_BIN) $(VERSION)-1 $(ETCDIR) $(PKGDIR)

rpm:
	$(call need,rpmbuild,rpm)
	$(call need,gzip,gzip)
	sh packaging/rpm/build-rpm.sh $(STATIC_BIN) $(VERSION) $(ETCDIR) $(PKGDIR)

apk:
	$(call need,python3,python3)
	$(call need,gzip,gzip)
	$(if $(APK_KEY),$(call need,openssl,openssl))
	python3 packaging/apk/build-apk.py --binary $(STATIC_BIN) --version $(VERSION)-r0 \
		--etc $(ETCDIR) --out $(PKGDIR) --url $(URL) $(if $(APK_KEY),--key $(APK_KEY))

# An older build of every package (same binary, lower version, slightly different shipped
# configuration) for the upgrade tests.
ifeq ($(STATIC_DONE),)
old-packages: static
endif
old-packages:
	@mkdir -p $(PKGDIR)/old/etc
	sed '1a # (as shipped with $(OLD_VERSION))' etc/config.yaml > $(PKGDIR)/old/etc/config.yaml
	sed '1a # (as shipped with $(OLD_VERSION))' etc/whitelist.yaml > $(PKGDIR)/old/etc/whitelist.yaml
	@$(MAKE) --no-print-directory deb rpm apk STATIC_DONE=1 VERSION=$(OLD_VERSION) \
		ETCDIR=$(PKGDIR)/old/etc PKGDIR=$(PKGDIR)/old

test: packages
	$(call need,curl,curl)
	$(call need,openssl,openssl)
	$(call need,bwrap,bubblewrap)
	$(call need,dpkg,dpkg)
	$(call need,rpm,rpm)
	$(call need,lintian,lintian)
	sh scripts/demo.sh --check
	@$(MAKE) --no-print-directory contract
	LPA_STATIC_BIN=$(abspath $(STATIC_BIN)) \
	LPA_DEB=$(abspath $(DEB)) LPA_RPM=$(abspath $(RPM)) LPA_APK=$(abspath $(APK)) \
	LPA_DEB_OLD=$(abspath $(PKGDIR)/old/$(BIN)_$(OLD_VERSION)-1_amd64.deb) \
	LPA_RPM_OLD=$(abspath $(PKGDIR)/old/$(BIN)-$(OLD_VERSION)-1.x86_64.rpm) \
	LPA_VERSION=$(VERSION) LPA_OLD_VERSION=$(OLD_VERSION) \
		$(CARGO) test --all-targets
	@$(MAKE) --no-print-directory test-apk PACKAGES_DONE=1
	@$(MAKE) --no-print-directory fuzz-smoke

# apk-tools for real: tests/apk_sandbox.rs (Cargo.toml `test = false`: not in --all-targets,
# so it runs here, once) with apk-tools 2.14.10 and 3.0.6, built static by
# tests/sandbox/apk-tools.sh from ../shared/vendor/apk-tools (LPA_APK_TOOLS_SRC) into the
# sandbox cache. Also builds a signed copy of the .apk with a throw-away key (make apk APK_KEY=).
APK_TEST_DIR := target/apk-test
ifeq ($(PACKAGES_DONE),)
test-apk: packages
endif
test-apk:
	$(call need,bwrap,bubblewrap)
	$(call need,openssl,openssl)
	$(call need,python3,python3)
	$(call need,busybox,busybox-static)
	@rm -rf $(APK_TEST_DIR) && mkdir -p $(APK_TEST_DIR)
	openssl genrsa -out $(APK_TEST_DIR)/lpa-test.rsa 2048 2>/dev/null
	openssl rsa -in $(APK_TEST_DIR)/lpa-test.rsa -pubout -out $(APK_TEST_DIR)/lpa-test.rsa.pub 2>/dev/null
	@$(MAKE) --no-print-directory apk STATIC_DONE=1 APK_KEY=$(APK_TEST_DIR)/lpa-test.rsa \
		PKGDIR=$(APK_TEST_DIR)/signed
	sh tests/sandbox/apk-tools.sh > $(APK_TEST_DIR)/apk-tools
	@apk2=$$(sed -n 's/^apk2 //p' $(APK_TEST_DIR)/apk-tools); \
	apk3=$$(sed -n 's/^apk3 //p' $(APK_TEST_DIR)/apk-tools); \
	echo "make test-apk: with $$($$apk2 --version | cut -d, -f1) and $$($$apk3 --version | cut -d, -f1)"; \
	LPA_APK2=$$apk2 LPA_APK3=$$apk3 LPA_STATIC_BIN=$(abspath $(STATIC_BIN)) \
	LPA_APK=$(abspath $(APK)) LPA_APK_SIGNED=$(abspath $(APK_TEST_DIR)/signed/$(notdir $(APK))) \
	LPA_APK_KEY_PUB=$(abspath $(APK_TEST_DIR)/lpa-test.rsa.pub) LPA_VERSION=$(VERSION) \
		$(CARGO) test --test apk_sandbox --test apk_backend

# The OpenAPI contract (docs/CONTRACT.md): scripts/contract.sh runs schemathesis (pinned,
# installed once by scripts/schemathesis.sh into a venv under /var/cache/linux-patch-api-tests;
# SCHEMATHESIS=path uses another) over mTLS against two agents in sandbox roots: a read-only
# one in the Patch Manager's shape and a writable one in the specification's. No operation is
# excluded: the writable agent's jobs run apt on fixture packages in its own overlay (about a
# second each) and its reboot_command is /bin/true inside the sandbox, so POST
# /api/v1/system/reboot is safe. About 70 s; CONTRACT_EXAMPLES (default 60) trades depth for time.
SCHEMATHESIS ?=
contract: build
	$(call need,bwrap,bubblewrap)
	$(call need,jq,jq)
	$(call need,curl,curl)
	$(call need,openssl,openssl)
	$(call need,python3,python3)
	@st='$(SCHEMATHESIS)'; [ -n "$$st" ] || st=$$(sh scripts/schemathesis.sh); \
	SCHEMATHESIS=$$st LPA_BIN=$(abspath target/debug/$(BIN)) sh scripts/contract.sh

# Fuzzing (docs/FUZZING.md): cargo-fuzz targets in fuzz/, its own crate, built with
# RUSTC_BOOTSTRAP=1 on the stable toolchain into FUZZ_CACHE (outside the checkout, kept by
# CI). `make fuzz` grows a corpus there across runs; the smoke run starts from the seeds.
FUZZ_SECONDS ?= 180
FUZZ_SMOKE_SECONDS ?= 5
FUZZ_CACHE ?= /var/cache/linux-patch-api-tests/fuzz
fuzz:
	FUZZ_CACHE=$(FUZZ_CACHE) sh fuzz/run.sh $(FUZZ_SECONDS)

fuzz-smoke:
	FUZZ_CACHE=$(FUZZ_CACHE) sh fuzz/run.sh --smoke $(FUZZ_SMOKE_SECONDS)

# Footprint, throughput, handshakes, latency under pressure, inventory and job speed, side
# by side with nginx and the package tools (docs/BENCHMARKS.md). Not part of `make test`.
# BENCH_ARGS passes options, e.g. BENCH_ARGS='--idle-seconds 5 --seconds 2 --no-sandbox'.
BENCH_ARGS ?=
bench: static release
	$(if $(filter --jobs-only --sandbox-only,$(BENCH_ARGS)),,$(call need,nginx,nginx))
	$(call need,dpkg-query,dpkg)
	@tools=$$(sh tests/sandbox/apk-tools.sh) || echo "make bench: no apk-tools, the apk jobs are skipped" >&2; \
	LPA_APK2=$$(echo "$$tools" | sed -n 's/^apk2 //p') LPA_APK3=$$(echo "$$tools" | sed -n 's/^apk3 //p') \
	LPA_STATIC_BIN=$(abspath $(STATIC_BIN)) \
	$(CARGO) bench --bench harness -- --static-bin $(abspath $(STATIC_BIN)) \
		--release-bin $(abspath $(RELEASE_BIN)) $(BENCH_ARGS)

# Peak memory of streaming a generated 30 MB updateinfo.xml (docs/BENCHMARKS.md; fails
# above 64 MiB). Needs nothing but cargo; not part of `make test` (which runs only the
# generator's self-check).
bench-updateinfo:
	$(CARGO) bench --bench updateinfo_memory -- --mb 30

lint:
	$(call need,$(CARGO),cargo or rustup)
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) clippy --test apk_sandbox --test apk_backend -- -D warnings

demo:
	sh scripts/demo.sh

# The configuration files are installed only when absent: a reinstall never overwrites an
# operator's configuration.
install: release
	$(call need,install,coreutils)
	$(call need,gzip,gzip)
	install -D -m 0755 $(RELEASE_BIN) $(DESTDIR)$(PREFIX)/sbin/$(BIN)
	install -d -m 0755 $(DESTDIR)/etc/linux_patch_api
	install -d -m 0700 $(DESTDIR)/etc/linux_patch_api/certs
	install -d -m 0700 $(DESTDIR)/var/lib/linux_patch_api
	install -d -m 0750 $(DESTDIR)/var/log/linux_patch_api
	@for f in config.yaml whitelist.yaml; do \
		if [ -e $(DESTDIR)/etc/linux_patch_api/$$f ]; then \
			echo "kept the existing $(DESTDIR)/etc/linux_patch_api/$$f"; \
		else \
			echo "install -m 0640 etc/$$f $(DESTDIR)/etc/linux_patch_api/$$f"; \
			install -m 0640 etc/$$f $(DESTDIR)/etc/linux_patch_api/$$f; \
		fi; \
	done
	install -d -m 0755 $(DESTDIR)$(PREFIX)/share/man/man8 $(DESTDIR)$(PREFIX)/share/man/man5
	gzip -9nc man/linux-patch-api.8 > $(DESTDIR)$(PREFIX)/share/man/man8/linux-patch-api.8.gz
	gzip -9nc man/linux-patch-api.yaml.5 > $(DESTDIR)$(PREFIX)/share/man/man5/linux-patch-api.yaml.5.gz
	chmod 0644 $(DESTDIR)$(PREFIX)/share/man/man8/linux-patch-api.8.gz \
		$(DESTDIR)$(PREFIX)/share/man/man5/linux-patch-api.yaml.5.gz
	install -d -m 0755 $(DESTDIR)$(SYSTEMD_UNIT_DIR)
	sed 's|/usr/sbin/linux-patch-api|$(PREFIX)/sbin/linux-patch-api|' etc/linux-patch-api.service \
		> $(DESTDIR)$(SYSTEMD_UNIT_DIR)/linux-patch-api.service
	chmod 0644 $(DESTDIR)$(SYSTEMD_UNIT_DIR)/linux-patch-api.service
	@if [ -n "$(OPENRC)" ]; then \
		echo "install OpenRC script to $(DESTDIR)/etc/init.d/linux-patch-api"; \
		install -d -m 0755 $(DESTDIR)/etc/init.d; \
		sed 's|^command=/usr/sbin/linux-patch-api|command=$(PREFIX)/sbin/linux-patch-api|' \
			etc/openrc/linux-patch-api > $(DESTDIR)/etc/init.d/linux-patch-api; \
		chmod 0755 $(DESTDIR)/etc/init.d/linux-patch-api; \
	fi

clean:
	$(CARGO) clean
	rm -rf demo
