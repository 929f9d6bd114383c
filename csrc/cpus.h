/*
 * cpus.h: how many CPUs this process may actually use, for sizing worker
 * pools. Plain C, shared by the backends and module.c.
 */
#ifndef LC_CPUS_H
#define LC_CPUS_H

/* The smallest of: online CPUs, the CPU affinity mask (taskset, cpusets) and
 * the cgroup CPU quota (v2 cpu.max, v1 cpu.cfs_quota_us / cpu.cfs_period_us,
 * on this cgroup and its ancestors; a fractional quota rounds up). At least 1. */
int lc_usable_cpus(void);

#endif
