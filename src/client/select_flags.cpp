#include "client/select_flags.hpp"

#include <charconv>

#include "client/sync.hpp"
#include "dns/wire.hpp"
#include "util/duration.hpp"

namespace wgsd::client {
namespace {

std::chrono::milliseconds duration(const std::string& text, const char* flag, std::chrono::milliseconds low, std::chrono::milliseconds high,
                                   const char* range) {
  const auto d = util::parse_duration(text);
  if (!d || *d < low || *d > high) throw CLI::ValidationError(flag, std::string("expected a duration from ") + range + ", got '" + text + "'");
  return std::chrono::duration_cast<std::chrono::milliseconds>(*d);
}

}  // namespace

void add_select_flags(CLI::App& app, SelectFlags& flags) {
  app.add_option("--select", flags.pool, "keep exactly one member of the pool NAME installed as a peer (a daemon; --keepalive and --state apply)");
  app.add_option("--check", flags.check, "with --select: how long a try lasts, and how often the installed member is looked at")->capture_default_str();
  app.add_option("--established", flags.established, "with --select: a handshake younger than this means the tunnel is up")->capture_default_str();
}

std::optional<SelectOptions> select_options(const SelectFlags& flags, SyncFlags& sync, bool roam, const Options& options) {
  if (flags.pool.empty()) {
    if (flags.check != "5s") throw CLI::ValidationError("--check", "only works with --select");
    if (flags.established != "2m30s") throw CLI::ValidationError("--established", "only works with --select");
    return std::nullopt;
  }
  if (sync.sync) throw CLI::ValidationError("--select", "cannot be combined with --sync");
  if (roam) throw CLI::ValidationError("--select", "cannot be combined with --roam");
  SelectOptions s;
  const auto name = dns::normalize_zone(flags.pool);
  if (!name || *name == "." || flags.pool.back() == '.') {
    throw CLI::ValidationError("--select", "expected a pool name relative to the zone such as vpn, got '" + flags.pool + "'");
  }
  s.pool = name->substr(0, name->size() - 1);
  s.check = duration(flags.check, "--check", std::chrono::seconds(1), std::chrono::hours(1), "1s to 1h");
  s.established = duration(flags.established, "--established", std::chrono::seconds(1), std::chrono::hours(24), "1s to 24h");
  if (!sync.keepalive.empty()) {
    // Whole seconds, as `25` or `25s`.
    std::string k = sync.keepalive;
    if (k.size() > 1 && k.back() == 's') k.pop_back();
    unsigned v = 0;
    const auto [ptr, ec] = std::from_chars(k.data(), k.data() + k.size(), v);
    if (ec != std::errc() || ptr != k.data() + k.size() || v < 1 || v > 65535) {
      throw CLI::ValidationError("--keepalive", "expected whole seconds from 1 to 65535, got '" + sync.keepalive + "'");
    }
    s.keepalive = static_cast<std::uint16_t>(v);
  }
  s.state_file = sync.state.empty() ? default_state_dir() + "/" + options.device + ".select" : sync.state;
  sync.keepalive.clear();
  sync.state.clear();
  return s;
}

}  // namespace wgsd::client
