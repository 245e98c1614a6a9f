// `wgsd-client --select NAME`: keeps exactly one member of a pool installed as a peer of the device,
// trying members at random (each once per cycle) and moving on when one does not come up or dies.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "client/client.hpp"
#include "wg/backend.hpp"

namespace wgsd::client {

struct SelectOptions {
  std::string pool;                                  ///< NAME: the pool answers at NAME.<zone>
  std::chrono::milliseconds check{5000};             ///< how long a try lasts, and how often an established member is looked at
  std::chrono::milliseconds established{150000};     ///< a handshake younger than this: the tunnel is up
  std::uint16_t keepalive{25};                       ///< persistent keepalive of the installed peer, seconds
  std::string state_file;                            ///< holds the key of the peer this installed; "" keeps it in memory only
  /// Nothing received from the installed member for this long: it is dead. 3 × check, at least 15 s
  /// (a live server answers within 10 s once it has something to answer).
  [[nodiscard]] std::chrono::milliseconds silence() const {
    return std::max<std::chrono::milliseconds>(3 * check, std::chrono::seconds(15));
  }
};

/// How often the device is looked at while a member is installed (at most every --check).
inline constexpr std::chrono::milliseconds poll_interval{1000};

/// A member as the registry publishes it.
struct PoolMember {
  wg::Key key;
  wg::Endpoint endpoint;
  std::vector<wg::Prefix> allowed;
};

/// The pool's members now; on failure an empty list and `error` says why.
using MemberSource = std::function<std::vector<PoolMember>(std::string& error)>;

/// Asks the registries for the pool: the SRV set of _wireguard._udp.NAME.ZONE names the members
/// (the target's first label is the base32 of the member's key); each member's own SRV and TXT give
/// its endpoint and allowed IPs. `stop_fd` (or -1) ends the asking early.
std::vector<PoolMember> ask_pool(const Options& options, const SelectOptions& select, int stop_fd, std::string& error);

class Selector {
public:
  using Steady = std::chrono::steady_clock;

  /// Reads the state file: a peer it names that is on the device is the one this installed before.
  Selector(Options options, SelectOptions select, wg::Backend& backend, MemberSource members, std::uint64_t seed);

  /// Looks at the device and acts: judges the member on trial or the established one, removes a
  /// failed one, installs the next. Returns when to step again. Never throws: what goes wrong is
  /// written to `log` as "wgsd-client: ..." lines.
  Steady::time_point step(Steady::time_point now, wg::Clock::time_point wall, std::ostream& log);

  /// {"<base64 key>": <seconds established> | false, ...} for every member of the last list, and the
  /// installed one.
  void print_json(std::ostream& out, Steady::time_point now) const;

  [[nodiscard]] const std::optional<wg::Key>& installed() const { return installed_; }
  [[nodiscard]] bool established() const { return phase_ == Phase::established; }
  /// Every member installed so far, in order (for tests and the log).
  [[nodiscard]] const std::vector<wg::Key>& history() const { return history_; }

private:
  enum class Phase { none, trying, established };
  void remove(std::ostream& log, const std::string& why);
  void install(const PoolMember& m, Steady::time_point now, std::ostream& log);
  void save_state(std::ostream& log) const;

  Options options_;
  SelectOptions select_;
  wg::Backend& backend_;
  MemberSource members_;
  std::mt19937_64 random_;
  std::optional<wg::Key> installed_;
  Phase phase_{Phase::none};
  Steady::time_point since_;            ///< installed at (trying) or established at
  Steady::time_point last_growth_;      ///< when the installed member's received bytes last grew
  std::uint64_t last_rx_{};
  std::vector<wg::Key> tried_;          ///< in this cycle: every member once before any twice
  std::vector<wg::Key> known_;          ///< the last member list
  std::vector<wg::Key> history_;
  bool resumed_{};                      ///< the state file named a peer: judge it at the first step
};

}  // namespace wgsd::client
