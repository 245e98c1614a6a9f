// What the server does for its secondaries besides answering their transfers: NOTIFY them when a
// zone's serial moves, and keep each transferred zone's last serial in a state file, so that a
// restart never publishes a lower one (a secondary would ignore it and keep the old zone).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "server/config.hpp"
#include "server/notify_sender.hpp"
#include "server/peer_cache.hpp"

namespace wgsd::server {

class Secondaries {
public:
  /// `state_dir`: where the serials are kept ("" keeps none: the serial follows the clock alone).
  Secondaries(Log& log, std::string state_dir, NotifyTiming timing = {});
  /// Which zones are transferred and where NOTIFY goes, from the `transfer` and `tsig` directives.
  void configure(const ServerConfig& config);
  /// The hooks the PeerCache calls: the floor of a zone's serial, and each new serial.
  PeerCache::SerialHooks hooks();
  void start() { notify_.start(); }
  void stop() { notify_.stop(); }
  [[nodiscard]] const NotifySender& notifier() const { return notify_; }

  /// The serial kept for `zone` (text); 0 when none.
  [[nodiscard]] std::uint32_t kept_serial(const std::string& zone) const;

private:
  void changed(const dns::Zone& zone);
  [[nodiscard]] std::string path(const std::string& zone) const { return state_dir_ + "/" + zone + "serial"; }

  Log& log_;
  std::string state_dir_;
  NotifySender notify_;
  mutable std::mutex mutex_;
  std::set<std::string> transferred_;  // zones (text) a `transfer` covers
  bool warned_{};
};

}  // namespace wgsd::server
