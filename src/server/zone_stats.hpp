// What the refresher learns about each zone, for `prometheus`, `ready` and `status`: device reads
// and their duration, snapshot builds, the serial, and each peer's state as published. Written by
// the refresher (one lock per read, never on the query path), read by the HTTP threads.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "server/pool_health.hpp"
#include "server/publish.hpp"
#include "wg/types.hpp"

namespace wgsd::server {

/// Why a peer is published or not.
enum class PeerState : std::uint8_t { published, stale, hidden, no_endpoint };
inline constexpr std::array<const char*, 4> peer_state_names = {"published", "stale", "hidden", "no_endpoint"};

struct PeerStatus {
  wg::Key key;
  std::optional<wg::Endpoint> endpoint;
  std::optional<wg::Clock::time_point> handshake;
  PeerState state{PeerState::published};
  bool self{};  ///< the device itself (`self`)
};

/// The peers of `device` as `policy` publishes them (before published_peers() moves anything).
std::vector<PeerStatus> classify(const PublishPolicy& policy, const wg::Device& device, wg::Clock::time_point now);
using PeerCounts = std::array<std::uint64_t, 4>;  ///< per PeerState
/// How many peers of `device` classify() puts in each state, without listing them.
PeerCounts count_states(const PublishPolicy& policy, const wg::Device& device, wg::Clock::time_point now);

/// Read-time buckets of wgsd_device_read_duration_seconds.
inline constexpr std::array<double, 12> read_time_bounds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};

struct ZoneStatus {
  std::string zone;
  std::string device;
  std::array<std::uint64_t, 4> peers{};            ///< per PeerState
  std::vector<PeerStatus> peer_list;               ///< kept only while `status` is configured
  std::uint32_t serial{};
  bool loaded{};                                   ///< answering with data from a good read
  std::optional<wg::Clock::time_point> last_read;  ///< the last attempt
  std::chrono::nanoseconds read_duration{};
  bool last_read_ok{};
  std::string last_error;
  std::optional<wg::Clock::time_point> last_good;
  std::uint64_t reads_ok{};
  std::uint64_t reads_failed{};
  std::uint64_t builds{};
  std::size_t journal_steps{};                     ///< IXFR steps the current snapshot carries
  std::size_t journal_bytes{};                     ///< and their size, about
  std::array<std::uint64_t, read_time_bounds.size() + 1> read_buckets{};
  double read_seconds{};
  std::vector<PoolStatus> pools;                   ///< as of the last good read
};

class ZoneStats {
public:
  /// The zones served from now on, as (zone, device); others are forgotten, new ones start empty.
  void configure(const std::vector<std::pair<std::string, std::string>>& zones);
  /// Whether each read keeps the list of peers (only `status` shows it).
  void keep_peers(bool keep);
  [[nodiscard]] bool keeping_peers() const;

  /// A device read of `zone` (on `device`) ended: `counts` when it succeeded, else `error`; `list`
  /// (classify()) is kept when keeping_peers().
  void read(const std::string& zone, const std::string& device, std::chrono::nanoseconds took, wg::Clock::time_point at,
            const PeerCounts* counts, std::vector<PeerStatus> list, const std::string& error);
  /// The zone now answers from a snapshot with this serial (`built`: a new one was made).
  void snapshot(const std::string& zone, const std::string& device, std::uint32_t serial, bool loaded, bool built);
  /// The IXFR journal the zone's current snapshot carries.
  void journal(const std::string& zone, const std::string& device, std::size_t steps, std::size_t bytes);

  /// The zone's pools after a good read of its device.
  void pools(const std::string& zone, const std::string& device, std::vector<PoolStatus> pools);

  /// Every zone, in configuration order.
  [[nodiscard]] std::vector<ZoneStatus> zones() const;
  /// Zones not answering with data from a good read; empty: ready.
  [[nodiscard]] std::vector<std::string> not_ready() const;

private:
  /// The zone's entry, made if missing.
  ZoneStatus* find(const std::string& zone, const std::string& device);

  mutable std::mutex mutex_;
  std::vector<ZoneStatus> zones_;
  bool keep_peers_{};
};

}  // namespace wgsd::server
