/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cohmem's tracepoints: events/cohmem/ in tracefs, for perf, trace-cmd and
 * bpftrace. A disabled tracepoint costs a static branch; the durations are
 * only measured while their event is enabled.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM cohmem

#if !defined(COHMEM_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define COHMEM_TRACE_H

#include <linux/tracepoint.h>
#include <linux/types.h>

/* Why device-side eviction ran (cohmem_evict's reason). */
#define COHMEM_EVICT_IOCTL	0
#define COHMEM_EVICT_PRESSURE	1
#define COHMEM_EVICT_DRAIN	2

TRACE_EVENT(cohmem_migrate,
	    TP_PROTO(int dev, bool to_dev, u64 addr, u64 len, u64 moved,
		     u64 skipped, u64 evicted, u64 ns),
	    TP_ARGS(dev, to_dev, addr, len, moved, skipped, evicted, ns),
	    TP_STRUCT__entry(__field(int, dev)
			     __field(bool, to_dev)
			     __field(u64, addr)
			     __field(u64, len)
			     __field(u64, moved)
			     __field(u64, skipped)
			     __field(u64, evicted)
			     __field(u64, ns)),
	    TP_fast_assign(__entry->dev = dev;
			   __entry->to_dev = to_dev;
			   __entry->addr = addr;
			   __entry->len = len;
			   __entry->moved = moved;
			   __entry->skipped = skipped;
			   __entry->evicted = evicted;
			   __entry->ns = ns;),
	    TP_printk("dev=%d dir=%s addr=%#llx len=%llu moved=%llu skipped=%llu evicted=%llu ns=%llu",
		      __entry->dev, __entry->to_dev ? "to_dev" : "to_sys",
		      __entry->addr, __entry->len, __entry->moved,
		      __entry->skipped, __entry->evicted, __entry->ns));

TRACE_EVENT(cohmem_evict,
	    TP_PROTO(int dev, int reason, u64 first, u64 count, u64 evicted,
		     u64 busy, u64 ns),
	    TP_ARGS(dev, reason, first, count, evicted, busy, ns),
	    TP_STRUCT__entry(__field(int, dev)
			     __field(int, reason)
			     __field(u64, first)
			     __field(u64, count)
			     __field(u64, evicted)
			     __field(u64, busy)
			     __field(u64, ns)),
	    TP_fast_assign(__entry->dev = dev;
			   __entry->reason = reason;
			   __entry->first = first;
			   __entry->count = count;
			   __entry->evicted = evicted;
			   __entry->busy = busy;
			   __entry->ns = ns;),
	    TP_printk("dev=%d reason=%s first=%llu count=%llu evicted=%llu busy=%llu ns=%llu",
		      __entry->dev,
		      __print_symbolic(__entry->reason,
				       { COHMEM_EVICT_IOCTL, "ioctl" },
				       { COHMEM_EVICT_PRESSURE, "pressure" },
				       { COHMEM_EVICT_DRAIN, "drain" }),
		      __entry->first, __entry->count, __entry->evicted,
		      __entry->busy, __entry->ns));

TRACE_EVENT(cohmem_pin,
	    TP_PROTO(int dev, bool pin, u32 mode, u32 handle, u64 npages,
		     u64 ndevice),
	    TP_ARGS(dev, pin, mode, handle, npages, ndevice),
	    TP_STRUCT__entry(__field(int, dev)
			     __field(bool, pin)
			     __field(u32, mode)
			     __field(u32, handle)
			     __field(u64, npages)
			     __field(u64, ndevice)),
	    TP_fast_assign(__entry->dev = dev;
			   __entry->pin = pin;
			   __entry->mode = mode;
			   __entry->handle = handle;
			   __entry->npages = npages;
			   __entry->ndevice = ndevice;),
	    TP_printk("dev=%d %s mode=%u handle=%u npages=%llu ndevice=%llu",
		      __entry->dev, __entry->pin ? "pin" : "unpin",
		      __entry->mode, __entry->handle, __entry->npages,
		      __entry->ndevice));

TRACE_EVENT(cohmem_fault,
	    TP_PROTO(int dev, unsigned long addr, bool huge, unsigned int ret),
	    TP_ARGS(dev, addr, huge, ret),
	    TP_STRUCT__entry(__field(int, dev)
			     __field(unsigned long, addr)
			     __field(bool, huge)
			     __field(unsigned int, ret)),
	    TP_fast_assign(__entry->dev = dev;
			   __entry->addr = addr;
			   __entry->huge = huge;
			   __entry->ret = ret;),
	    TP_printk("dev=%d addr=%#lx huge=%d ret=%#x", __entry->dev,
		      __entry->addr, __entry->huge, __entry->ret));

TRACE_EVENT(cohmem_page_free,
	    TP_PROTO(int dev, unsigned long idx, unsigned long nr),
	    TP_ARGS(dev, idx, nr),
	    TP_STRUCT__entry(__field(int, dev)
			     __field(unsigned long, idx)
			     __field(unsigned long, nr)),
	    TP_fast_assign(__entry->dev = dev;
			   __entry->idx = idx;
			   __entry->nr = nr;),
	    TP_printk("dev=%d idx=%lu nr=%lu", __entry->dev, __entry->idx,
		      __entry->nr));

#endif /* COHMEM_TRACE_H */

/* Out of tree: define_trace.h finds this file through -I$(src)/src. */
#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE trace
#include <trace/define_trace.h>
