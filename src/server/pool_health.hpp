// The health of the pools' members: a member is healthy while its received-bytes counter keeps moving.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "dns/pool.hpp"
#include "server/pool_config.hpp"
#include "wg/types.hpp"

namespace wgsd::server {

/// One member of a pool as `status` and `prometheus` show it.
struct PoolMemberStatus {
  wg::Key key;
  bool healthy{};
  std::optional<std::chrono::steady_clock::time_point> last_received;      ///< when its received bytes last grew; nullopt: never seen to
};

/// One pool as of the last device read.
struct PoolStatus {
  std::string name;
  bool fail_open{};                    ///< no healthy member: every member answered
  std::uint64_t fail_open_episodes{};  ///< how often it started failing open since the server started
  std::vector<PoolMemberStatus> members;
};

/// Kept by the refresher for one zone, across refreshes. Members keep a persistent keepalive to the
/// registry, so a live one sends something every few seconds; a handshake alone is renewed only
/// every 120 s and would take minutes to reveal a death.
class PoolHealth {
public:
  using Steady = std::chrono::steady_clock;

  /// Notes every member's received bytes in `device`, read at `now` (`wall` is the same moment on
  /// the device's clock, for handshake times), and returns the pools as the next snapshot
  /// publishes them. `log` receives a line when a pool starts or stops failing open.
  std::vector<dns::PoolView> update(const std::vector<PoolConfig>& pools, const wg::Device& device, Steady::time_point now,
                                    wg::Clock::time_point wall, std::vector<std::string>& log);

  /// The pools as update() returned them, with when each member last received, for `status` and
  /// `prometheus` (the refresher calls it after update(); never a query).
  [[nodiscard]] std::vector<PoolStatus> status(const std::vector<dns::PoolView>& views) const;

  /// How many times a pool of this zone started failing open (no healthy member: all answered).
  [[nodiscard]] std::uint64_t fail_open_episodes() const { return fail_open_episodes_; }

private:
  struct Seen {
    std::uint64_t rx{};
    bool grew{};                   ///< last_growth is known
    Steady::time_point last_growth;
  };
  std::unordered_map<wg::Key, Seen, wg::KeyHash> seen_;
  struct Episodes {
    bool failing{};
    std::uint64_t count{};
  };
  std::unordered_map<std::string, Episodes> failing_open_;  // per pool name
  std::uint64_t fail_open_episodes_{};
};

}  // namespace wgsd::server
