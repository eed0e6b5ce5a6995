// SPDX-License-Identifier: GPL-2.0
/*
 * cohmem-kmod: load or unload a module through libkmod, from the depmod'ed
 * tree of the running kernel, as modprobe does. (busybox insmod retries a
 * failed init with init_module(), calling the module's init twice.)
 *
 *   cohmem-kmod load NAME [PARAM=VALUE...]
 *   cohmem-kmod remove NAME	(rmmod: refused while the module is in use)
 *   cohmem-kmod unload NAME	(write its drain parameter first, if it has
 *				 one, as modprobe -r does with debian/cohmem.conf)
 */
#define _GNU_SOURCE
#include <libkmod.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int load(struct kmod_ctx *ctx, const char *name, int argc, char **argv)
{
	struct kmod_list *list = NULL, *l;
	char opts[1024] = "";
	int i, ret;

	for (i = 0; i < argc; i++) {
		strncat(opts, argv[i], sizeof(opts) - strlen(opts) - 2);
		strcat(opts, " ");
	}
	ret = kmod_module_new_from_lookup(ctx, name, &list);
	if (ret < 0 || !list) {
		fprintf(stderr, "cohmem-kmod: module %s not found\n", name);
		return 1;
	}
	kmod_list_foreach(l, list) {
		struct kmod_module *mod = kmod_module_get_module(l);

		ret = kmod_module_probe_insert_module(mod, 0, opts, NULL, NULL, NULL);
		if (ret < 0)
			fprintf(stderr, "cohmem-kmod: loading %s: %s\n",
				kmod_module_get_name(mod), strerror(-ret));
		kmod_module_unref(mod);
		break;
	}
	kmod_module_unref_list(list);
	return ret < 0 ? 1 : 0;
}

/* NAME's drain parameter, if it has one: evict what can be evicted. */
static void drain(const char *name)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "/sys/module/%s/parameters/drain", name);
	f = fopen(path, "w");
	if (!f)
		return;
	fputs("1\n", f);
	fclose(f);
}

static int unload(struct kmod_ctx *ctx, const char *name, bool drain_first)
{
	struct kmod_module *mod;
	int ret;

	if (drain_first)
		drain(name);
	if (kmod_module_new_from_name(ctx, name, &mod) < 0)
		return 1;
	ret = kmod_module_remove_module(mod, 0);
	if (ret < 0)
		fprintf(stderr, "cohmem-kmod: unloading %s: %s\n", name, strerror(-ret));
	kmod_module_unref(mod);
	return ret < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct kmod_ctx *ctx;
	int ret;

	if (argc < 3 || (strcmp(argv[1], "load") && strcmp(argv[1], "unload") &&
			 strcmp(argv[1], "remove"))) {
		fprintf(stderr, "usage: cohmem-kmod load NAME [PARAM=VALUE...] | unload NAME | remove NAME\n");
		return 2;
	}
	ctx = kmod_new(NULL, NULL);
	if (!ctx)
		return 1;
	if (!strcmp(argv[1], "load"))
		ret = load(ctx, argv[2], argc - 3, argv + 3);
	else
		ret = unload(ctx, argv[2], !strcmp(argv[1], "unload"));
	kmod_unref(ctx);
	return ret;
}
