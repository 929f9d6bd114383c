/*
 * cpus.c: see cpus.h. sysconf() counts the machine's CPUs, not the process's:
 * under `taskset -c 0` or in a container limited to 2 CPUs on a 64-core host
 * it still says 64, and 64 decoders then fight over 2 CPUs' worth of time.
 */
#include "cpus.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifdef __linux__
#include <sched.h>

static int affinity_cpus(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        return INT_MAX; /* more CPUs than cpu_set_t holds: no limit known */
    int n = CPU_COUNT(&set);
    return n > 0 ? n : INT_MAX;
}

/* ceil(quota / period) as CPUs, or INT_MAX when there is no quota. */
static int quota_cpus(long long quota, long long period)
{
    if (quota <= 0 || period <= 0)
        return INT_MAX;
    long long n = (quota + period - 1) / period;
    return n < INT_MAX ? (int)n : INT_MAX;
}

/* cgroup v2: "max 100000" (no limit) or "200000 100000". */
static int v2_limit(const char *dir)
{
    char path[PATH_MAX], word[32] = "";
    long long quota = -1, period = 0;
    snprintf(path, sizeof path, "%s/cpu.max", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return INT_MAX;
    if (fscanf(f, "%31s %lld", word, &period) == 2 && strcmp(word, "max") != 0)
        sscanf(word, "%lld", &quota);
    fclose(f);
    return quota_cpus(quota, period);
}

static long long read_number(const char *dir, const char *name)
{
    char path[PATH_MAX];
    long long value = -1;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    if (fscanf(f, "%lld", &value) != 1)
        value = -1;
    fclose(f);
    return value;
}

/* cgroup v1: cpu.cfs_quota_us is -1 without a limit. */
static int v1_limit(const char *dir)
{
    return quota_cpus(read_number(dir, "cpu.cfs_quota_us"), read_number(dir, "cpu.cfs_period_us"));
}

/* A quota anywhere from our cgroup up to the mount's root limits us. Inside a
 * container the path /proc names may not exist below the mount (the mount is
 * the container's own cgroup): then only the root's files are found. */
static int hierarchy_limit(const char *mount, const char *cgroup_path, int (*limit)(const char *))
{
    char dir[PATH_MAX];
    int best = INT_MAX;
    snprintf(dir, sizeof dir, "%s%s", mount, strcmp(cgroup_path, "/") == 0 ? "" : cgroup_path);
    for (;;) {
        int n = limit(dir);
        if (n < best)
            best = n;
        if (strlen(dir) <= strlen(mount))
            break;
        *strrchr(dir, '/') = '\0';
    }
    return best;
}

/* Has the comma-separated controller list "cpu" in it ("cpu,cpuacct")? */
static int lists_cpu(const char *controllers)
{
    size_t n = strlen(controllers);
    for (const char *p = controllers; p < controllers + n;) {
        size_t len = strcspn(p, ",");
        if (len == 3 && strncmp(p, "cpu", 3) == 0)
            return 1;
        p += len + 1;
    }
    return 0;
}

static int cgroup_cpus(void)
{
    char line[PATH_MAX + 128];
    int best = INT_MAX;
    FILE *f = fopen("/proc/self/cgroup", "r");
    if (!f)
        return INT_MAX;
    /* Lines are "ID:CONTROLLERS:PATH"; v2 has ID 0 and no controllers. */
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char *controllers = strchr(line, ':');
        char *path = controllers ? strchr(controllers + 1, ':') : NULL;
        if (!path || path[1] != '/')
            continue;
        *controllers++ = '\0';
        *path++ = '\0';
        int n = INT_MAX;
        if (*controllers == '\0') {
            n = hierarchy_limit("/sys/fs/cgroup", path, v2_limit);
            int unified = hierarchy_limit("/sys/fs/cgroup/unified", path, v2_limit);
            if (unified < n)
                n = unified;
        } else if (lists_cpu(controllers)) {
            char mount[PATH_MAX];
            snprintf(mount, sizeof mount, "/sys/fs/cgroup/%s", controllers);
            n = hierarchy_limit(mount, path, v1_limit);
            int plain = hierarchy_limit("/sys/fs/cgroup/cpu", path, v1_limit);
            if (plain < n)
                n = plain;
        }
        if (n < best)
            best = n;
    }
    fclose(f);
    return best;
}
#endif

int lc_usable_cpus(void)
{
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    int n = online < 1 ? 1 : online > INT_MAX ? INT_MAX : (int)online;
#ifdef __linux__
    int limit = affinity_cpus();
    if (limit < n)
        n = limit;
    limit = cgroup_cpus();
    if (limit < n)
        n = limit;
#endif
    return n < 1 ? 1 : n;
}
