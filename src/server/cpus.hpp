// How many CPUs this process may use: its affinity mask and its cgroup v2 CPU quota, so that the
// default worker count fits a container or a `taskset` instead of the whole machine.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace wgsd::server {

/// The CPUs a cgroup v2 `cpu.max` file allows: "150000 100000" is 1.5; "max 100000" (no quota)
/// and text that is not a quota give nullopt.
std::optional<double> parse_cpu_max(std::string_view text);

/// The tightest `cpu.max` quota on the path of this process's cgroup, from its own cgroup up to
/// `cgroup_root` (the cgroup v2 mount). `proc_self_cgroup` is the text of /proc/self/cgroup; only its
/// "0::PATH" line counts. nullopt: no quota anywhere, or no cgroup v2.
std::optional<double> cgroup_cpu_quota(const std::string& cgroup_root, std::string_view proc_self_cgroup);

/// Worker threads for `affinity_cpus` usable CPUs and a quota of `quota_cpus` CPUs (nullopt: none):
/// the smaller of the two, the quota rounded up; never 0.
unsigned worker_count(unsigned affinity_cpus, std::optional<double> quota_cpus);

/// worker_count() for the calling thread's affinity (sched_getaffinity) and this process's cgroup.
unsigned default_worker_count();

}  // namespace wgsd::server
