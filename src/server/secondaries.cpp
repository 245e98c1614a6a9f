#include "server/secondaries.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "dns/transfer.hpp"
#include "dns/wire.hpp"
#include "dns/zone.hpp"
#include "server/tsig_keys.hpp"

namespace wgsd::server {

Secondaries::Secondaries(Log& log, std::string state_dir, NotifyTiming timing)
    : log_(log), state_dir_(std::move(state_dir)), notify_(log, timing) {}

void Secondaries::configure(const ServerConfig& config) {
  std::vector<NotifyZone> zones;
  std::set<std::string> transferred;
  for (const auto& b : config.blocks) {
    dns::TransferPolicy policy;
    for (const auto& t : b.transfer) policy.rules.push_back(t.rule);
    const auto tsig = compile_tsig({&b});
    for (const auto& z : b.wgsd) {
      const std::string wire = *dns::name_to_wire(z.settings.zone);
      const dns::TransferRule* rule = policy.rule_for(wire);
      if (rule == nullptr) continue;
      transferred.insert(z.settings.zone);
      NotifyZone n{z.settings.zone, wire, rule->to, std::nullopt};
      // Signed with the first key the zone's `tsig` accepts, which its secondaries know.
      if (tsig) {
        const auto* r = tsig->rule_for({reinterpret_cast<const std::uint8_t*>(wire.data()), wire.size()});
        if (r != nullptr && !r->keys.empty()) n.key = r->keys.front();
      }
      if (!n.targets.empty()) zones.push_back(std::move(n));
    }
  }
  notify_.configure(std::move(zones));
  std::lock_guard lock(mutex_);
  transferred_ = std::move(transferred);
}

PeerCache::SerialHooks Secondaries::hooks() {
  return {[this](const std::string& zone) { return kept_serial(zone); }, [this](const dns::Zone& zone) { changed(zone); }};
}

std::uint32_t Secondaries::kept_serial(const std::string& zone) const {
  if (state_dir_.empty()) return 0;
  {
    std::lock_guard lock(mutex_);
    if (!transferred_.count(zone)) return 0;
  }
  std::ifstream in(path(zone));
  std::uint64_t serial = 0;
  if (!(in >> serial) || serial > 0xffffffffULL) return 0;
  return static_cast<std::uint32_t>(serial);
}

void Secondaries::changed(const dns::Zone& zone) {
  notify_.changed(zone.apex_wire, zone.serial);
  std::lock_guard lock(mutex_);
  if (state_dir_.empty() || !transferred_.count(zone.apex)) return;
  // Written beside and renamed over: a crash leaves the old serial or the new one, never half.
  std::error_code ec;
  std::filesystem::create_directories(state_dir_, ec);
  const std::string file = path(zone.apex);
  const std::string tmp = file + ".new";
  bool ok = false;
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << zone.serial << "\n";
    ok = static_cast<bool>(out.flush());
  }
  if (ok && std::rename(tmp.c_str(), file.c_str()) == 0) {
    warned_ = false;
    return;
  }
  const std::string why = std::strerror(errno);
  if (!warned_) {
    log_.error("zone " + zone.apex + ": cannot keep serial " + std::to_string(zone.serial) + " in " + file + ": " + why +
               " (after a restart the serial follows the clock alone)");
    warned_ = true;
  }
}

}  // namespace wgsd::server
