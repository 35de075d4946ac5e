# linux-patch-api: build, test and try the agent.
# `make demo` and `make test` are the README's quick start; keep them true.

CARGO   ?= cargo
PREFIX  ?= /usr
DESTDIR ?=
BIN     := linux-patch-api
TARGET  ?= x86_64-unknown-linux-gnu

.PHONY: all build release static test lint demo install clean

all: build

build:
	$(CARGO) build

release:
	$(CARGO) build --release

# glibc static-pie: runs on minimal hosts and in an empty root.
static:
	RUSTFLAGS='-C target-feature=+crt-static' $(CARGO) build --release --target $(TARGET)
	@ls -l target/$(TARGET)/release/$(BIN)

test:
	@command -v curl >/dev/null || { echo "make test: curl is missing (Debian package: curl)"; exit 1; }
	@command -v openssl >/dev/null || { echo "make test: openssl is missing (Debian package: openssl)"; exit 1; }
	sh scripts/demo.sh --check
	$(CARGO) test --all-targets

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

demo:
	sh scripts/demo.sh

install: release
	install -D -m 0755 target/release/$(BIN) $(DESTDIR)$(PREFIX)/sbin/$(BIN)
	install -d -m 0700 $(DESTDIR)/etc/linux_patch_api/certs
	install -D -m 0640 etc/config.yaml $(DESTDIR)/etc/linux_patch_api/config.yaml
	install -D -m 0640 etc/whitelist.yaml $(DESTDIR)/etc/linux_patch_api/whitelist.yaml
	install -D -m 0644 man/linux-patch-api.yaml.5 $(DESTDIR)$(PREFIX)/share/man/man5/linux-patch-api.yaml.5

clean:
	$(CARGO) clean
	rm -rf demo
