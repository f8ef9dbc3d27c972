# axigen-ha: build, test, install, demo.
#   make deps     install the missing Debian packages and Rust components (root)
#   make test     deps, formatting, lints, unit tests and the end-to-end suites (root)
#   make demo     deps, then the lab demo (root)
#   make bench    the benchmarks, release build (BENCHMARKS.md)
#   make fresh-check  make demo and make test on a clean Debian 12 root (root; scripts/fresh-check)
#   make deb      Debian 12 packages in target/deb, checked by lintian (packaging/debian)
#   make deb-check  install, use and purge those packages in a clean Debian 12 root (root)
#   make install  DESTDIR=... PREFIX=/usr
PREFIX ?= /usr
DESTDIR ?=
CARGO ?= cargo
PROFILE ?= release
OCF_DIR = $(DESTDIR)/usr/lib/ocf/resource.d/axigen
LIBEXEC_DIR = $(DESTDIR)$(PREFIX)/lib/axigen-ha
SBIN_DIR = $(DESTDIR)$(PREFIX)/sbin
BIN_DIR = $(DESTDIR)$(PREFIX)/bin
MAN7_DIR = $(DESTDIR)$(PREFIX)/share/man/man7
MAN8_DIR = $(DESTDIR)$(PREFIX)/share/man/man8
SHARE_DIR = $(DESTDIR)$(PREFIX)/share/axigen-provision
# Debian 12 (systemd 252) reads packaged units from /lib/systemd/system.
UNIT_DIR ?= $(DESTDIR)/lib/systemd/system
DEB_DIR = target/deb
TARGET = target/$(PROFILE)

.PHONY: all build deps test lint demo install man bench clean fresh-check deb deb-check

all: build

build:
	$(CARGO) build --workspace --bins $(if $(filter release,$(PROFILE)),--release,)

# Installs only what is missing, so it is cheap to run before every test or demo.
deps:
	@missing=$$(for p in $$(grep -v '^#' .ci/apt-packages); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	  done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi
	@rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
	@rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

test: deps lint
	$(CARGO) build --workspace --bins
	target/debug/axigen-ha man --agents target/debug --out target/man
	$(CARGO) test --workspace --no-fail-fast

# The agents' pages from their meta-data, the programs' from their command-line definitions;
# written afresh so that a removed subcommand leaves no page behind.
man: build
	rm -rf target/man
	$(TARGET)/axigen-ha man --agents $(TARGET) --out target/man

install: build man
	install -d $(OCF_DIR) $(LIBEXEC_DIR) $(SBIN_DIR) $(BIN_DIR) $(MAN7_DIR) $(MAN8_DIR) \
	  $(SHARE_DIR) $(UNIT_DIR)
	install -m 755 $(TARGET)/instance $(OCF_DIR)/instance
	install -m 755 $(TARGET)/drbd $(OCF_DIR)/drbd
	install -m 755 $(TARGET)/fence_axigen_ipmi $(SBIN_DIR)/fence_axigen_ipmi
	install -m 755 $(TARGET)/axigen-ha $(BIN_DIR)/axigen-ha
	install -m 755 $(TARGET)/axigen-provision $(BIN_DIR)/axigen-provision
	install -m 755 $(TARGET)/drbd-fence-peer $(TARGET)/axha-lab-node $(TARGET)/axha-bmc-chassis \
	  $(LIBEXEC_DIR)/
	for f in target/man/*.7; do [ ! -f $$f ] || install -m 644 $$f $(MAN7_DIR)/; done
	for f in target/man/*.8; do [ ! -f $$f ] || install -m 644 $$f $(MAN8_DIR)/; done
	install -m 644 crates/directory/schema/axigen-ha.schema crates/directory/schema/axigen-ha.ldif \
	  $(SHARE_DIR)/
	install -m 644 packaging/axigen-provision.service $(UNIT_DIR)/

# The packages are split from what `make install` puts in a staging tree (packaging/debian says
# which file goes where), so the two never disagree. lintian fails the target on any error or
# warning that packaging/debian/*.lintian-overrides does not explain.
deb: deps
	rm -rf $(DEB_DIR)
	mkdir -p $(DEB_DIR)/src
	cp -r packaging/debian $(DEB_DIR)/src/debian
	cp packaging/provision.toml $(DEB_DIR)/src/
	$(MAKE) install DESTDIR=$(CURDIR)/$(DEB_DIR)/src/stage PREFIX=/usr
	cd $(DEB_DIR)/src && dpkg-buildpackage --build=binary --no-sign --no-pre-clean
	lintian --info --fail-on error,warning $(DEB_DIR)/*.deb
	@# The unit's exposure (systemd's own score, 0 to 10) must stay at 2.0 or below.
	@if command -v systemd-analyze >/dev/null; then \
	  out=$$(systemd-analyze security --offline=true --threshold=20 --no-pager \
	    packaging/axigen-provision.service 2>&1) || { echo "$$out"; exit 1; }; \
	  echo "$$out" | tail -n 1; \
	else echo "systemd-analyze absent: the unit's exposure is not scored"; fi
	@cd $(DEB_DIR) && for d in *.deb; do \
	  printf '%-48s %6s KiB\n' "$$d" $$(( $$(stat -c %s "$$d") / 1024 )); done

deb-check:
	scripts/deb-check

demo: deps build
	$(TARGET)/axigen-ha lab demo

bench: deps build
	AXHA_BIN_DIR=$(CURDIR)/$(TARGET) $(CARGO) bench -p axha-e2e

fresh-check:
	scripts/fresh-check

clean:
	$(CARGO) clean
