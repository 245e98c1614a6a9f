#include "server/ops_pages.hpp"

#include <dirent.h>
#include <ctime>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "server/prom_text.hpp"
#include "server/transfer_metrics.hpp"

namespace wgsd::server::ops {

HttpResponse answer(const HttpRoutes& routes, std::string_view path, const metrics::Registry& metrics, const ZoneStats& stats,
                    const NotifySender* notifier) {
  // The query string is not part of the path the HTTP server hands over.
  if (routes.metrics && path == "/metrics") {
    return {200, "text/plain; version=0.0.4; charset=utf-8", render_metrics(metrics, stats, notifier)};
  }
  if (routes.health && path == "/health") return {200, "text/plain; charset=utf-8", "OK"};
  if (routes.ready && path == "/ready") {
    const auto waiting = stats.not_ready();
    if (waiting.empty()) return {200, "text/plain; charset=utf-8", "OK"};
    std::string body;
    for (const auto& z : waiting) body += (body.empty() ? "" : ",") + z;
    return {503, "text/plain; charset=utf-8", body + "\n"};
  }
  if (routes.status && path == "/status.json") return {200, "application/json", status_json(stats.zones(), wg::Clock::now(), notifier != nullptr ? notifier->status() : std::vector<NotifyTargetStatus>{})};
  if (routes.status && path == "/") return {200, "text/html; charset=utf-8", status_html(stats.zones(), wg::Clock::now())};
  return {404, "text/plain; charset=utf-8", "404 page not found\n"};
}

std::string render_metrics(const metrics::Registry& metrics, const ZoneStats& stats, const NotifySender* notifier) {
  std::string out;
  out.reserve(16384);
  metrics.render(out);
  const auto zones = stats.zones();
  render_zone_metrics(out, zones);
  render_transfer_metrics(out, metrics.transfers(), metrics.zone_names(), notifier != nullptr ? notifier->status() : std::vector<NotifyTargetStatus>{},
                          zones);
  render_pool_metrics(out, zones);
  render_process_metrics(out);
  return out;
}

void render_zone_metrics(std::string& out, const std::vector<ZoneStatus>& zones) {
  // A zone served from two devices (two ports) is summed: the zone is the label.
  prom::Family peers(out, "wgsd_peers", "gauge", "Peers of the zone's device by state: published, stale (handshake older than max-age), hidden, no_endpoint.");
  for (const auto& z : zones) {
    for (std::size_t s = 0; s < peer_state_names.size(); ++s) {
      peers.sample({{"zone", z.zone}, {"device", z.device}, {"state", peer_state_names[s]}}, static_cast<double>(z.peers[s]));
    }
  }
  prom::Family reads(out, "wgsd_device_reads_total", "counter", "Device reads by result.");
  for (const auto& z : zones) {
    reads.sample({{"zone", z.zone}, {"device", z.device}, {"result", "ok"}}, static_cast<double>(z.reads_ok));
    reads.sample({{"zone", z.zone}, {"device", z.device}, {"result", "error"}}, static_cast<double>(z.reads_failed));
  }
  prom::Family duration(out, "wgsd_device_read_duration_seconds", "histogram", "Time a device read took.");
  const std::vector<double> bounds(read_time_bounds.begin(), read_time_bounds.end());
  for (const auto& z : zones) duration.histogram({{"zone", z.zone}, {"device", z.device}}, bounds, z.read_buckets, z.read_seconds);
  prom::Family builds(out, "wgsd_snapshot_builds_total", "counter", "Snapshots built because what the zone publishes changed.");
  for (const auto& z : zones) builds.sample({{"zone", z.zone}, {"device", z.device}}, static_cast<double>(z.builds));
  prom::Family serial(out, "wgsd_zone_serial", "gauge", "The SOA serial the zone answers with.");
  for (const auto& z : zones) serial.sample({{"zone", z.zone}, {"device", z.device}}, z.serial);
  prom::Family loaded(out, "wgsd_zone_loaded", "gauge", "1 when the zone answers with data from a good device read, 0 while it answers SERVFAIL.");
  for (const auto& z : zones) loaded.sample({{"zone", z.zone}, {"device", z.device}}, z.loaded ? 1 : 0);
  prom::Family last(out, "wgsd_last_good_read_timestamp_seconds", "gauge", "Unix time of the last good device read (0: none yet).");
  for (const auto& z : zones) {
    const double t = z.last_good ? std::chrono::duration<double>(z.last_good->time_since_epoch()).count() : 0;
    last.sample({{"zone", z.zone}, {"device", z.device}}, t);
  }
}

namespace {

std::string read_file(const char* path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

void render_process_metrics(std::string& out) {
  const long ticks = ::sysconf(_SC_CLK_TCK);
  const long page = ::sysconf(_SC_PAGESIZE);
  // /proc/self/stat: the fields after the command, which may hold spaces and parentheses.
  const std::string stat = read_file("/proc/self/stat");
  const auto close = stat.rfind(')');
  std::vector<std::string> f;
  if (close != std::string::npos) {
    std::istringstream in(stat.substr(close + 2));
    for (std::string x; in >> x;) f.push_back(x);
  }
  // f[0] is field 3 (state): utime is field 14, stime 15, starttime 22, vsize 23, rss 24.
  const auto field = [&](std::size_t n) { return n - 3 < f.size() ? std::stod(f[n - 3]) : 0.0; };
  // When the system booted, from the clocks rather than /proc/stat's btime: the shipped unit's
  // ProcSubset=pid hides /proc/stat, and a start time counted from 0 would say the process has run
  // since 1970. starttime is in ticks since boot, suspend included, as CLOCK_BOOTTIME counts.
  timespec real{}, since_boot{};
  ::clock_gettime(CLOCK_REALTIME, &real);
  ::clock_gettime(CLOCK_BOOTTIME, &since_boot);
  const double boot = static_cast<double>(real.tv_sec - since_boot.tv_sec) +
                      static_cast<double>(real.tv_nsec - since_boot.tv_nsec) / 1e9;
  std::size_t fds = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (const dirent* e = ::readdir(d)) {
      if (e->d_name[0] != '.') ++fds;
    }
    ::closedir(d);
    if (fds > 0) --fds;  // the directory being read
  }
  rlimit nofile{};
  ::getrlimit(RLIMIT_NOFILE, &nofile);
  const double tck = ticks > 0 ? static_cast<double>(ticks) : 100.0;
  prom::Family(out, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.").sample({}, (field(14) + field(15)) / tck);
  prom::Family(out, "process_open_fds", "gauge", "Number of open file descriptors.").sample({}, static_cast<double>(fds));
  prom::Family(out, "process_max_fds", "gauge", "Maximum number of open file descriptors.").sample({}, static_cast<double>(nofile.rlim_cur));
  prom::Family(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.").sample({}, field(23));
  prom::Family(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.").sample({}, field(24) * static_cast<double>(page));
  prom::Family(out, "process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.").sample({}, boot + field(22) / tck);
  prom::Family(out, "wgsd_build_info", "gauge", "A metric with a constant '1' value labeled by the version wgsd was built from.")
      .sample({{"version", WGSD_VERSION}}, 1);
}

}  // namespace wgsd::server::ops
