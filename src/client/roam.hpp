// `wgsd-client --roam`: on each server of a multi-server VPN whose client-facing device is the same
// on every server (same key, same peers), route each client's addresses to the server that holds
// its freshest handshake. The other servers' registries, asked over the backbone, publish the
// client device (TXT `handshake=`). A client whose freshest handshake is elsewhere gets its allowed
// IPs on that server's backbone peer (WireGuard allowed IPs) and a kernel route through the
// backbone device; a client that is here has them taken off again. Only what wgsd added is ever
// removed: the allowed IPs its state file records (off the backbone peer it records), and the
// routes that carry its protocol and whose prefix the state file records.
//
// Every round compares what it placed with the backbone's actual allowed IPs and routes and puts
// back what someone else took away; what it placed is recorded only once it is written, so a
// write that fails is tried again by the next round. The state file (written before a write with
// what is about to be added, and after it with what is there) lets a run after a crash take back
// what the crashed one left.
#pragma once

#include <chrono>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "client/client.hpp"
#include "wg/backend.hpp"

namespace wgsd::client {

struct RoamOptions {
  std::string backbone;                       ///< the device whose peers are the other servers
  std::chrono::seconds max_skew{5};           ///< a registry whose clock is further off is not believed
  std::string state_file;                     ///< what it placed, kept across a crash; empty: none
};

/// Adds, deletes and lists kernel routes "PREFIX dev DEVICE", and tells a device's own addresses.
/// A seam for tests.
class Router {
public:
  virtual ~Router() = default;
  virtual void add(const std::string& device, const wg::Prefix& prefix) = 0;
  virtual void remove(const std::string& device, const wg::Prefix& prefix) = 0;
  /// The routes through `device` that carry wgsd's route protocol (only wgsd adds those).
  virtual std::vector<wg::Prefix> list(const std::string& device) = 0;
  /// The addresses of the interface `device` itself (`ip address show dev DEVICE`).
  virtual std::vector<wg::IpAddress> addresses(const std::string& device) = 0;
};
/// The kernel's routing table, over rtnetlink.
std::unique_ptr<Router> make_kernel_router();

/// Where this process sent a client: through which backbone peer, which prefixes.
struct Placement {
  wg::Key via;
  std::vector<wg::Prefix> prefixes;
  friend bool operator==(const Placement&, const Placement&) = default;
};
using RoamState = std::map<wg::Key, Placement>;

/// The default state file of a client device: <default_state_dir()>/<device>.roam
std::string default_roam_state_file(const std::string& device);
/// Reads `path`; a file that does not exist is an empty state; one that is empty, cut short or
/// damaged is an error naming the file and line.
RoamState load_roam_state(const std::string& path);
/// Writes `path` whole (atomically, fsynced). Throws std::runtime_error naming the file.
void save_roam_state(const RoamState& state, const std::string& path);

struct RoamPeer {
  wg::Key public_key;
  bool changed{};
  std::string message;
  /// placed (routed to another server), here (taken back: it is here), gone (left the device),
  /// repaired (what someone took away was put back), refused, failed (a write failed)
  std::string outcome;
};

struct RoamReport {
  bool device_failed{};
  bool state_failed{};                        ///< the state file could not be written
  std::string error;
  std::vector<std::string> notes;             ///< registries not used this round, and why
  std::vector<RoamPeer> peers;                ///< the clients whose placement changed or failed
  [[nodiscard]] int exit_code() const;        ///< 0, 2 a registry or a client failed, 3 a device, route or the state file failed
};

/// One round over every client of `options.device`. `options.registries` are the other servers'
/// registries; each must lie inside the allowed IPs of one backbone peer (that is the server it
/// names). Updates `state`. Never throws.
RoamReport roam_once(const Options& options, const RoamOptions& roam, RoamState& state, wg::Backend& backend, Router& router, int stop_fd = -1);

/// Takes back everything `state` records: its allowed IPs off the backbone peers it records them
/// at, and its routes of wgsd's protocol through the backbone (on exit). Never throws; what failed is in the report, and stays in `state`.
RoamReport roam_undo(const Options& options, const RoamOptions& roam, RoamState& state, wg::Backend& backend, Router& router);

void print_roam_messages(const RoamReport& report, std::ostream& out);
/// The round as one JSON document (one line): what changed, and why.
void print_roam_json(const RoamReport& report, const Options& options, const RoamOptions& roam, std::ostream& out);

namespace detail {
/// Makes the backbone match `want` (what should be placed where), starting from what `state`
/// says was placed and what the device (read afresh) and the routing table actually hold; records
/// in `state` what was written. Used by a round and by roam_undo.
void settle(const Options& options, const RoamOptions& roam, RoamState& state, const RoamState& want, wg::Backend& backend, Router& router,
            RoamReport& report);
}  // namespace detail

}  // namespace wgsd::client
