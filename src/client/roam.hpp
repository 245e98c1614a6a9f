// `wgsd-client --roam`: on each server of a multi-server VPN whose client-facing device is the same
// on every server (same key, same peers), route each client's addresses to the server that holds
// its freshest handshake. The other servers' registries, asked over the backbone, publish the
// client device (TXT `handshake=`). A client whose freshest handshake is elsewhere gets its allowed
// IPs on that server's backbone peer (WireGuard allowed IPs) and a kernel route through the
// backbone device; a client that is here has them taken off again. Only what this process added
// is ever removed.
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
};

/// Adds and deletes kernel routes "PREFIX dev DEVICE". A seam for tests.
class Router {
public:
  virtual ~Router() = default;
  virtual void add(const std::string& device, const wg::Prefix& prefix) = 0;
  virtual void remove(const std::string& device, const wg::Prefix& prefix) = 0;
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

struct RoamPeer {
  wg::Key public_key;
  bool changed{};
  std::string message;
};

struct RoamReport {
  bool device_failed{};
  std::string error;
  std::vector<std::string> notes;             ///< registries not used this round, and why
  std::vector<RoamPeer> peers;                ///< the clients whose placement changed or failed
  [[nodiscard]] int exit_code() const;        ///< 0, 2 a registry or a client failed, 3 a device or route failed
};

/// One round over every client of `options.device`. `options.registries` are the other servers'
/// registries; each must lie inside the allowed IPs of one backbone peer (that is the server it
/// names). Updates `state`. Never throws.
RoamReport roam_once(const Options& options, const RoamOptions& roam, RoamState& state, wg::Backend& backend, Router& router, int stop_fd = -1);

/// Takes back everything `state` records (on exit). Never throws; what failed is in the report.
RoamReport roam_undo(const Options& options, const RoamOptions& roam, RoamState& state, wg::Backend& backend, Router& router);

void print_roam_messages(const RoamReport& report, std::ostream& out);

}  // namespace wgsd::client
