# SPDX-License-Identifier: GPL-2.0
#
# make                 build cohmem.ko for the running kernel (or KDIR=...)
# make tests           build the userspace test binaries (tests/)
# make check           build, boot the stock Debian kernels in QEMU, run tests
# make demo            the main job: one kernel, migration and pin eviction
# make checkpatch      scripts/checkpatch.pl --strict over the module sources
# make deb             Debian packages (cohmem-dkms, cohmem-tests, cohmem-dev)
#                      into out/deb/; build dependencies: apt-get build-dep .
# make lint            lintian over what make deb built (apt-get install lintian)
# make dkms-install    as root: copy the module source to /usr/src/cohmem-VERSION
#                      and dkms add/build/install it (for KVER, default running)
# make dkms-remove     as root: dkms remove it from every kernel, delete the copy

KVER ?= $(shell uname -r)
KDIR ?= /lib/modules/$(KVER)/build

# The module version, for DKMS and the packages (debian/rules checks that
# debian/changelog agrees).
VERSION := $(shell sed -n 's/^PACKAGE_VERSION="\{0,1\}\([^"]*\)"\{0,1\}$$/\1/p' \
	$(CURDIR)/dkms.conf)

# The source files of the tree under $(1) (all of it if empty): in a git
# checkout what git tracks or would add (not ignored), so an in-tree build's
# artefacts are left out; elsewhere every file but out/.
src_files = $(sort $(wildcard $(shell cd $(CURDIR) && \
	{ [ -e .git ] && git ls-files -co --exclude-standard -- $(1) 2>/dev/null; } || \
	find $(or $(1),.) -path ./out -prune -o -type f ! -path './.git/*' -print \
	| sed 's,^\./,,')))

# What DKMS builds from, in /usr/src/cohmem-VERSION for both the package and
# dkms-install: dkms.conf, Kbuild, Makefile, scripts/probe.sh, and the C
# sources and headers (and any Kbuild or Makefile) of src/, include/, probes/.
DKMS_FILES = dkms.conf Kbuild Makefile $(wildcard scripts/probe.sh) \
	$(filter-out %.mod.c,$(filter %.c %.h %.S %.export %/Kbuild %/Makefile, \
		$(call src_files,$(wildcard src include probes))))
DKMS_SRC_DIR = /usr/src/cohmem-$(VERSION)

all: module

module:
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

clean:
	$(MAKE) -C $(KDIR) M=$(CURDIR) clean
	$(MAKE) -C tests clean

tests:
	$(MAKE) -C tests

check:
	scripts/test.sh

demo:
	scripts/demo.sh

checkpatch:
	scripts/checkpatch.sh

# Copy the DKMS file set to $(DESTDIR)/usr/src/cohmem-VERSION
# (debian/rules and dkms-install).
dkms-src:
	test -n "$(VERSION)"
	install -d $(DESTDIR)$(DKMS_SRC_DIR)
	cp --parents -- $(DKMS_FILES) $(DESTDIR)$(DKMS_SRC_DIR)/

# Undo a checkout's DKMS registration; refuse to touch
# /usr/src/cohmem-VERSION when the cohmem-dkms package owns it.
dkms-remove:
	@if dpkg-query -S $(DKMS_SRC_DIR) >/dev/null 2>&1; then \
		echo "$(DKMS_SRC_DIR) belongs to the cohmem-dkms package: apt remove cohmem-dkms first" >&2; \
		exit 1; \
	fi
	@if [ -n "$$(dkms status -m cohmem -v $(VERSION))" ]; then \
		echo "dkms remove cohmem/$(VERSION) --all"; \
		dkms remove cohmem/$(VERSION) --all; \
	fi
	rm -rf $(DKMS_SRC_DIR)

# A fresh copy every time: whatever an earlier dkms-install left goes first.
dkms-install: dkms-remove
	$(MAKE) --no-print-directory dkms-src DESTDIR=
	dkms add -m cohmem -v $(VERSION)
	dkms build -m cohmem -v $(VERSION) -k $(KVER)
	dkms install -m cohmem -v $(VERSION) -k $(KVER)

# make deb: dpkg-buildpackage -us -uc -b in a copy of the tree's source files
# (out/deb/build/, removed afterwards), so nothing it generates lands in the
# checkout. The .deb, .buildinfo and .changes files end up in out/deb/,
# replacing those of the previous run. dpkg-buildpackage run in the checkout
# itself works too (output in ..; .gitignore covers what it leaves in debian/).
DEB_OUT := out/deb
DEB_TREE := $(DEB_OUT)/build/cohmem-$(VERSION)

deb:
	rm -rf $(DEB_OUT)/build $(DEB_OUT)/*.deb $(DEB_OUT)/*.buildinfo $(DEB_OUT)/*.changes
	mkdir -p $(DEB_TREE)
	cp --parents -- $(call src_files,) $(DEB_TREE)/
	cd $(DEB_TREE) && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL dpkg-buildpackage -us -uc -b
	mv $(DEB_OUT)/build/*.deb $(DEB_OUT)/build/*.buildinfo $(DEB_OUT)/build/*.changes $(DEB_OUT)/
	rm -rf $(DEB_OUT)/build
	@ls -1 $(DEB_OUT)/*.deb

# make lint: lintian over the packages of the last make deb, at its default
# level plus --info; any error or warning fails (debian/*lintian-overrides
# say why each override is there). LINTIAN_FLAGS=--pedantic shows more.
lint:
	@ls $(DEB_OUT)/*.changes >/dev/null 2>&1 || { echo "no $(DEB_OUT)/*.changes: make deb first" >&2; exit 1; }
	lintian --info --fail-on error,warning $(LINTIAN_FLAGS) $(DEB_OUT)/*.changes

.PHONY: all module clean tests check demo checkpatch dkms-src dkms-install \
	dkms-remove deb lint
