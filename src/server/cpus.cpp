#include "server/cpus.hpp"

#include <sched.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <thread>

namespace wgsd::server {
namespace {

std::optional<std::string> read_text(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::optional<double> parse_positive(std::string_view text) {
  if (text.empty() || text.size() > 20) return std::nullopt;
  double value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  if (value <= 0) return std::nullopt;
  return value;
}

}  // namespace

std::optional<double> parse_cpu_max(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  const auto space = text.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  const auto quota = parse_positive(text.substr(0, space));  // "max": no quota
  const auto period = parse_positive(text.substr(space + 1));
  if (!quota || !period) return std::nullopt;
  return *quota / *period;
}

std::optional<double> cgroup_cpu_quota(const std::string& cgroup_root, std::string_view proc_self_cgroup) {
  std::optional<std::string> path;
  std::size_t pos = 0;
  while (pos < proc_self_cgroup.size()) {
    auto end = proc_self_cgroup.find('\n', pos);
    if (end == std::string_view::npos) end = proc_self_cgroup.size();
    const auto line = proc_self_cgroup.substr(pos, end - pos);
    if (line.starts_with("0::")) path = std::string(line.substr(3));
    pos = end + 1;
  }
  if (!path || path->find("..") != std::string::npos) return std::nullopt;
  // A quota anywhere above this cgroup caps it too.
  std::optional<double> tightest;
  std::string dir = *path;
  for (;;) {
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    if (const auto text = read_text(cgroup_root + (dir == "/" ? "" : dir) + "/cpu.max")) {
      if (const auto cpus = parse_cpu_max(*text); cpus && (!tightest || *cpus < *tightest)) tightest = cpus;
    }
    if (dir.empty() || dir == "/") break;
    const auto slash = dir.rfind('/');
    dir = slash == 0 || slash == std::string::npos ? "/" : dir.substr(0, slash);
  }
  return tightest;
}

unsigned worker_count(unsigned affinity_cpus, std::optional<double> quota_cpus) {
  unsigned n = affinity_cpus;
  if (quota_cpus && *quota_cpus > 0) {
    const double rounded = std::ceil(*quota_cpus - 1e-9);
    if (rounded < static_cast<double>(n)) n = static_cast<unsigned>(rounded);
  }
  return n == 0 ? 1 : n;
}

unsigned default_worker_count() {
  unsigned cpus = 0;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0) cpus = static_cast<unsigned>(CPU_COUNT(&set));
  if (cpus == 0) cpus = std::thread::hardware_concurrency();
  std::optional<double> quota;
  if (const auto self = read_text("/proc/self/cgroup")) quota = cgroup_cpu_quota("/sys/fs/cgroup", *self);
  return worker_count(cpus, quota);
}

}  // namespace wgsd::server
