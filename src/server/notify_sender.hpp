// NOTIFY (RFC 1996) to the secondaries a `transfer` lists, from a small thread of its own: one
// pending NOTIFY per zone and secondary (a burst of changes coalesces into it), retried with
// backoff until the secondary acknowledges it, signed when the zone's `tsig` has a key.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "dns/tsig.hpp"
#include "server/log.hpp"
#include "wg/address.hpp"
#include "wg/types.hpp"
#include "wg/unique_fd.hpp"

namespace wgsd::server {

/// Where NOTIFY for one zone goes.
struct NotifyZone {
  std::string apex;                  ///< text, "example.com."
  std::string apex_wire;             ///< lower-case wire form
  std::vector<wg::Endpoint> targets;
  std::optional<dns::tsig::Key> key; ///< signs every NOTIFY for the zone; nullopt: unsigned
};

/// One secondary of one zone, as the NOTIFY thread knows it.
struct NotifyTargetStatus {
  std::string zone;                          ///< text, "example.com."
  wg::Endpoint target;
  std::uint64_t sent{};                      ///< NOTIFY messages sent (first tries and retries)
  std::uint64_t acknowledged{};              ///< answered NOERROR
  std::uint64_t failed{};                    ///< answered with an error, or could not be sent
  std::optional<std::uint32_t> acked_serial; ///< the serial of the last NOTIFY acknowledged
  std::optional<wg::Clock::time_point> acked_at;
  std::optional<std::uint32_t> pending_serial; ///< a NOTIFY waiting for its answer (or its first try)
};

struct NotifyTiming {
  std::chrono::milliseconds hold{50};         ///< changes this close together make one NOTIFY
  std::chrono::milliseconds first_retry{1000};
  std::chrono::milliseconds max_retry{60000}; ///< the backoff doubles up to this, and goes on
};

class NotifySender {
public:
  NotifySender(Log& log, NotifyTiming timing = {});
  ~NotifySender();
  NotifySender(const NotifySender&) = delete;
  NotifySender& operator=(const NotifySender&) = delete;

  /// The zones and their secondaries from now on (a reload); pending NOTIFYs to targets no longer
  /// listed are dropped.
  void configure(std::vector<NotifyZone> zones);
  /// The zone (lower-case wire) has a new serial: its secondaries are told, once per burst.
  void changed(const std::string& apex_wire, std::uint32_t serial);
  /// Starts the thread (std::system_error when it cannot be made); stop() or the destructor ends it.
  void start();
  void stop();

  [[nodiscard]] std::uint64_t sent() const noexcept { return sent_.load(); }
  [[nodiscard]] std::uint64_t acknowledged() const noexcept { return acknowledged_.load(); }
  /// Every secondary of every zone, in configuration order.
  [[nodiscard]] std::vector<NotifyTargetStatus> status() const;

private:
  struct Pending {
    std::uint32_t serial{};
    std::chrono::steady_clock::time_point due;
    std::chrono::milliseconds backoff{};
    unsigned attempts{};
    std::uint16_t id{};        // of the NOTIFY last sent, for matching its answer
    bool in_flight{};
    bool warned{};
  };
  using Key = std::pair<std::string, wg::Endpoint>;  // zone, secondary
  void run();
  void send(const Key& k, Pending& p, std::chrono::steady_clock::time_point now);
  void receive(int fd);
  const NotifyZone* zone(const std::string& apex_wire) const;

  Log& log_;
  NotifyTiming timing_;
  mutable std::mutex mutex_;
  wg::UniqueFd wake_;  // an eventfd: new work, or stop
  std::vector<NotifyZone> zones_;
  std::map<Key, Pending> pending_;
  std::map<Key, NotifyTargetStatus> counts_;  // only sent, acknowledged, failed and acked_* are kept here
  wg::UniqueFd v4_, v6_;
  std::thread thread_;
  bool stop_{};
  std::atomic<std::uint64_t> sent_{0}, acknowledged_{0};
};

}  // namespace wgsd::server
