# SPDX-License-Identifier: GPL-2.0
#
# make                 build cohmem.ko for the running kernel (or KDIR=...)
# make tests           build the userspace test binaries (tests/)
# make check           build, boot the stock Debian kernels in QEMU, run tests
# make demo            the main job: one kernel, migration and pin eviction
# make checkpatch      scripts/checkpatch.pl --strict over the module sources

KVER ?= $(shell uname -r)
KDIR ?= /lib/modules/$(KVER)/build

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

.PHONY: all module clean tests check demo checkpatch
