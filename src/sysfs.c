// SPDX-License-Identifier: GPL-2.0
/*
 * Per-device attributes, in the directory of the device's node
 * (/sys/class/misc/cohmemN/): what INFO reports, for cat and scripts.
 * Documented in Documentation/ABI/testing/sysfs-class-misc-cohmem.
 */
#include <linux/device.h>
#include <linux/miscdevice.h>
#include <linux/sysfs.h>

#include "cohmem.h"

static struct cohmem_dev *cohmem_sysfs_dev(struct device *dev)
{
	struct miscdevice *misc = dev_get_drvdata(dev);

	return container_of(misc, struct cohmem_dev, misc);
}

static ssize_t type_show(struct device *dev, struct device_attribute *attr,
			 char *buf)
{
	return sysfs_emit(buf, "%s\n", cohmem_sysfs_dev(dev)->type ==
			  COHMEM_TYPE_PRIVATE ? "private" : "coherent");
}
static DEVICE_ATTR_RO(type);

static ssize_t source_show(struct device *dev, struct device_attribute *attr,
			   char *buf)
{
	return sysfs_emit(buf, "%s\n", cohmem_sysfs_dev(dev)->region.source ==
			  COHMEM_SOURCE_RESERVED ? "reserved" : "hotremove");
}
static DEVICE_ATTR_RO(source);

/* The physical address: mode 0400, root only, as in /proc/iomem. */
static ssize_t base_show(struct device *dev, struct device_attribute *attr,
			 char *buf)
{
	return sysfs_emit(buf, "%#llx\n", cohmem_sysfs_dev(dev)->region.start);
}
static DEVICE_ATTR_ADMIN_RO(base);

static ssize_t size_show(struct device *dev, struct device_attribute *attr,
			 char *buf)
{
	return sysfs_emit(buf, "%llu\n", cohmem_sysfs_dev(dev)->region.size);
}
static DEVICE_ATTR_RO(size);

static ssize_t page_size_show(struct device *dev, struct device_attribute *attr,
			      char *buf)
{
	return sysfs_emit(buf, "%lu\n", PAGE_SIZE);
}
static DEVICE_ATTR_RO(page_size);

static ssize_t huge_show(struct device *dev, struct device_attribute *attr,
			 char *buf)
{
	return sysfs_emit(buf, "%d\n", cohmem_huge_ok(cohmem_sysfs_dev(dev)));
}
static DEVICE_ATTR_RO(huge);

static ssize_t total_pages_show(struct device *dev,
				struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%lu\n", cohmem_sysfs_dev(dev)->npages);
}
static DEVICE_ATTR_RO(total_pages);

static ssize_t free_pages_show(struct device *dev,
			       struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%lu\n", cohmem_free_pages(cohmem_sysfs_dev(dev)));
}
static DEVICE_ATTR_RO(free_pages);

static ssize_t used_pages_show(struct device *dev,
			       struct device_attribute *attr, char *buf)
{
	struct cohmem_dev *cd = cohmem_sysfs_dev(dev);

	return sysfs_emit(buf, "%lu\n", cd->npages - cohmem_free_pages(cd));
}
static DEVICE_ATTR_RO(used_pages);

/* The cumulative counters, in pages. */
static ssize_t cohmem_counter_show(char *buf, atomic64_t *counter)
{
	return sysfs_emit(buf, "%lld\n", (long long)atomic64_read(counter));
}

static ssize_t migrated_to_dev_show(struct device *dev,
				    struct device_attribute *attr, char *buf)
{
	return cohmem_counter_show(buf, &cohmem_sysfs_dev(dev)->migrated_to_dev);
}
static DEVICE_ATTR_RO(migrated_to_dev);

static ssize_t migrated_to_sys_show(struct device *dev,
				    struct device_attribute *attr, char *buf)
{
	return cohmem_counter_show(buf, &cohmem_sysfs_dev(dev)->migrated_to_sys);
}
static DEVICE_ATTR_RO(migrated_to_sys);

static ssize_t evicted_show(struct device *dev, struct device_attribute *attr,
			    char *buf)
{
	return cohmem_counter_show(buf, &cohmem_sysfs_dev(dev)->evicted);
}
static DEVICE_ATTR_RO(evicted);

static ssize_t freed_show(struct device *dev, struct device_attribute *attr,
			  char *buf)
{
	return cohmem_counter_show(buf, &cohmem_sysfs_dev(dev)->freed);
}
static DEVICE_ATTR_RO(freed);

/*
 * Where migration passes spent their time (phase_stats=1), in ns: a line
 * for passes to the device and one for passes to system RAM (eviction
 * included), each "setup N alloc N copy N pages N finalize N".
 */
static ssize_t phase_ns_show(struct device *dev, struct device_attribute *attr,
			     char *buf)
{
	static const char *const dir[2] = { "to_dev", "to_sys" };
	struct cohmem_dev *cd = cohmem_sysfs_dev(dev);
	ssize_t len = 0;
	int d;

	for (d = 0; d < 2; d++) {
		atomic64_t *ns = cd->phase_ns[d];

		len += sysfs_emit_at(buf, len,
				     "%s setup %lld alloc %lld copy %lld pages %lld finalize %lld\n",
				     dir[d],
				     (long long)atomic64_read(&ns[COHMEM_PHASE_SETUP]),
				     (long long)atomic64_read(&ns[COHMEM_PHASE_ALLOC]),
				     (long long)atomic64_read(&ns[COHMEM_PHASE_COPY]),
				     (long long)atomic64_read(&ns[COHMEM_PHASE_PAGES]),
				     (long long)atomic64_read(&ns[COHMEM_PHASE_FINALIZE]));
	}
	return len;
}
static DEVICE_ATTR_RO(phase_ns);

static struct attribute *cohmem_attrs[] = {
	&dev_attr_type.attr,
	&dev_attr_source.attr,
	&dev_attr_base.attr,
	&dev_attr_size.attr,
	&dev_attr_page_size.attr,
	&dev_attr_huge.attr,
	&dev_attr_total_pages.attr,
	&dev_attr_free_pages.attr,
	&dev_attr_used_pages.attr,
	&dev_attr_migrated_to_dev.attr,
	&dev_attr_migrated_to_sys.attr,
	&dev_attr_evicted.attr,
	&dev_attr_freed.attr,
	&dev_attr_phase_ns.attr,
	NULL,
};

static const struct attribute_group cohmem_attr_group = {
	.attrs = cohmem_attrs,
};

const struct attribute_group *cohmem_attr_groups[] = {
	&cohmem_attr_group,
	NULL,
};
