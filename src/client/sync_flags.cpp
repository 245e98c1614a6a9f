#include "client/sync_flags.hpp"

#include <charconv>

#include "util/duration.hpp"

namespace wgsd::client {

void add_sync_flags(CLI::App& app, SyncFlags& flags) {
  app.add_flag("--sync", flags.sync, "add the peers the registry lists that the device lacks");
  app.add_flag("--prune", flags.prune, "with --sync: remove peers it added that the registry no longer lists");
  app.add_option("--allowed-within", flags.allowed_within, "with --sync (required): CIDRs every synced allowed IP must lie inside");
  app.add_option("--keepalive", flags.keepalive, "with --sync: persistent keepalive of added peers, e.g. 25s");
  app.add_option("--state", flags.state,
                 "with --sync or --roam: the file recording the peers it added or the routes it placed (default "
                 "$STATE_DIRECTORY/DEVICE.sync or DEVICE.roam, else /var/lib/wgsd-client/DEVICE.sync or DEVICE.roam)");
  app.add_option("--max-prune", flags.max_prune, "with --sync --prune: share of the synced peers one round may remove unconfirmed (default 10%)");
  app.add_flag("--insecure", flags.insecure, "allow --sync or --roam without a TSIG key (-y/-k)");
}

std::optional<SyncOptions> sync_options(const SyncFlags& flags, const Options& options, bool roam) {
  if (!flags.sync) {
    for (const auto& [given, name] : {std::pair{flags.prune, "--prune"}, std::pair{!flags.allowed_within.empty(), "--allowed-within"},
                                      std::pair{!flags.keepalive.empty(), "--keepalive"}, std::pair{!flags.max_prune.empty(), "--max-prune"}}) {
      if (given) throw CLI::ValidationError(name, "only works with --sync");
    }
    if (!flags.state.empty() && !roam) throw CLI::ValidationError("--state", "only works with --sync or --roam");
    return std::nullopt;
  }
  SyncOptions s;
  s.prune = flags.prune;
  if (flags.allowed_within.empty()) {
    throw CLI::ValidationError("--allowed-within", "--sync needs the CIDRs synced allowed IPs must lie inside, e.g. --allowed-within 10.8.0.0/16");
  }
  for (const auto& text : flags.allowed_within) {
    auto p = wg::Prefix::parse(text);
    if (!p) throw CLI::ValidationError("--allowed-within", "expected a CIDR such as 10.8.0.0/16, got '" + text + "'");
    if (p->to_string() != text) throw CLI::ValidationError("--allowed-within", "'" + text + "' has host bits set: did you mean " + p->to_string() + "?");
    s.allowed_within.push_back(*p);
  }
  if (!flags.keepalive.empty()) {
    auto d = util::parse_duration(flags.keepalive);
    if (!d || *d < std::chrono::seconds(0) || *d > std::chrono::seconds(65535) || *d % std::chrono::seconds(1) != std::chrono::nanoseconds(0)) {
      throw CLI::ValidationError("--keepalive", "expected whole seconds from 0s to 65535s, got '" + flags.keepalive + "'");
    }
    s.keepalive = static_cast<std::uint16_t>(std::chrono::duration_cast<std::chrono::seconds>(*d).count());
  }
  s.state_file = flags.state.empty() ? default_state_file(options.device) : flags.state;
  if (!flags.prune && !flags.max_prune.empty()) throw CLI::ValidationError("--max-prune", "only works with --sync --prune");
  std::string share = flags.max_prune.empty() ? "10%" : flags.max_prune;
  if (!share.empty() && share.back() == '%') share.pop_back();
  double percent = -1;
  auto [ptr, ec] = std::from_chars(share.data(), share.data() + share.size(), percent);
  if (ec != std::errc() || ptr != share.data() + share.size() || percent < 0 || percent > 100) {
    throw CLI::ValidationError("--max-prune", "expected a share from 0% to 100%, got '" + flags.max_prune + "'");
  }
  s.max_prune = percent / 100.0;
  if (!options.tsig && !flags.insecure) {
    throw CLI::ValidationError("--sync", "without a TSIG key (-y or -k) anyone who can answer for the registry could add peers to the device; "
                                         "give a key, or --insecure to accept that");
  }
  return s;
}

void add_roam_flags(CLI::App& app, RoamFlags& flags) {
  app.add_flag("--roam", flags.roam, "route each client of --device to the server that holds its freshest handshake");
  app.add_option("--backbone", flags.backbone, "with --roam (required): the device whose peers are the other servers");
  app.add_option("--max-skew", flags.max_skew, "with --roam: how far another server's clock may be off ours")->capture_default_str();
}

std::optional<RoamOptions> roam_options(const RoamFlags& flags, bool sync, const Options& options, bool insecure, const std::string& state) {
  if (!flags.roam) {
    if (!flags.backbone.empty()) throw CLI::ValidationError("--backbone", "only works with --roam");
    return std::nullopt;
  }
  if (sync) throw CLI::ValidationError("--roam", "--roam and --sync are for different devices: run one of each");
  if (flags.backbone.empty()) throw CLI::ValidationError("--backbone", "--roam needs the device whose peers are the other servers");
  wg::check_device_name(flags.backbone);
  RoamOptions r;
  r.backbone = flags.backbone;
  auto d = util::parse_duration(flags.max_skew);
  if (!d || *d < std::chrono::seconds(0) || *d > std::chrono::hours(1)) {
    throw CLI::ValidationError("--max-skew", "expected a duration from 0s to 1h, got '" + flags.max_skew + "'");
  }
  r.max_skew = std::chrono::duration_cast<std::chrono::seconds>(*d);
  r.state_file = state.empty() ? default_roam_state_file(options.device) : state;
  if (!options.tsig && !insecure) {
    throw CLI::ValidationError("--roam", "without a TSIG key (-y or -k) anyone who can answer for another server's registry could "
                                         "pull clients' addresses to it, and its clock cannot be checked; give a key, or --insecure "
                                         "to accept that");
  }
  return r;
}

}  // namespace wgsd::client
