// `wgsd-client --sync`: the peers a registry lists become peers of the device. Every peer the
// listing names that the device lacks is added (its key from the name, its allowed IPs from the
// TXT, its endpoint from the SRV when there is one); with `--prune`, a peer that this client added
// and that the registry no longer lists is removed. A state file records what was added, so a
// peer the client did not add is never removed or changed (beyond its endpoint, by the ordinary
// round).
//
// Safety: every allowed IP of a synced peer must lie inside `--allowed-within`, and must not
// overlap an allowed IP of another peer (WireGuard would silently move the route to the new peer);
// the device's own key is never added; a listing that is cut short or that a registry could not
// give prunes nothing; and pruning more than `max_prune` of the synced peers in one round waits
// for a second round that agrees, so a registry that suddenly lists nothing does not empty the
// device.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "client/axfr_listing.hpp"
#include "client/client.hpp"
#include "wg/backend.hpp"
#include "wg/unique_fd.hpp"

namespace wgsd::client {

struct SyncOptions {
  bool prune{};
  std::vector<wg::Prefix> allowed_within;           ///< every synced allowed IP lies inside one of these
  std::optional<std::uint16_t> keepalive;           ///< persistent keepalive of added peers, seconds
  std::string state_file;
  double max_prune{0.10};                           ///< share of the synced peers one round may prune unconfirmed
  /// The least time between the round that holds a large prune and the one that confirms it (the
  /// program uses the larger of --interval and 10 s): two quick rounds are not two opinions.
  std::chrono::seconds min_confirm{10};
  AxfrLimits axfr_limits;                           ///< bounds of a listing by transfer (its message timeout is --timeout)
};

/// What the client added, and the prunes it holds back for a second round's confirmation.
struct SyncState {
  std::set<wg::Key> added;
  std::set<wg::Key> held;
  std::int64_t held_since{};   ///< unix seconds of the round that held them (renewed when more join)

  /// Reads `path`; a file that does not exist is an empty state. Throws std::runtime_error naming
  /// the file and line of anything it cannot read.
  static SyncState load(const std::string& path);
  /// Reads `path`; a file that does not exist is an empty state; one that is empty, cut short or a
  /// directory is an error. Writes `path` whole: a temporary file of its own name, fsynced, renamed
  /// over it, and the directory fsynced; its directory is created. Throws std::runtime_error
  /// naming the file.
  void save(const std::string& path) const;
  /// Locks `path` for this process (flock on `path`.lock, held while the fd lives), so two clients
  /// never use one state file. Throws std::runtime_error naming the file when another holds it.
  static wg::UniqueFd lock(const std::string& path);

  friend bool operator==(const SyncState&, const SyncState&) = default;
};

/// Where the client keeps its state files by default: $STATE_DIRECTORY when set (systemd sets it
/// from the unit's StateDirectory=, a directory per instance; the first of a colon-separated list),
/// else /var/lib/wgsd-client.
std::string default_state_dir();
/// The default state file of a device: <default_state_dir()>/<device>.sync
std::string default_state_file(const std::string& device);

enum class SyncOutcome {
  added,       ///< created on the device (or would be, with --dry-run)
  refused,     ///< not added: outside --allowed-within, overlapping another peer, ...
  failed,      ///< not added: its records could not be read
  write_failed,///< the device refused to add or remove it
  pruned,      ///< removed: added earlier, no longer listed
  held,        ///< would be pruned, but this round prunes too many: the next round confirms
};

struct SyncPeer {
  wg::Key public_key;
  SyncOutcome outcome{};
  std::string message;
};

struct SyncReport {
  bool device_failed{};
  bool listing_failed{};                ///< no registry gave a listing: nothing was added or pruned
  bool state_failed{};                  ///< the state file could not be written
  std::string error;
  std::vector<std::string> notes;       ///< the listing cut short, a registry that failed, pruning skipped
  std::size_t listed{};
  std::vector<SyncPeer> peers;
  /// 0 done, 2 the listing or a peer's records failed, 3 the device or the state file failed.
  [[nodiscard]] int exit_code() const;
};

/// One sync round, before the ordinary endpoint round. Updates `state`; the keys it is about to
/// add are saved to `sync.state_file` (when set) before they are written to the device, the rest
/// the caller saves.
/// Never throws.
SyncReport sync_once(const Options& options, const SyncOptions& sync, SyncState& state, wg::Backend& backend, int stop_fd = -1);

/// "wgsd-client: <key>: <what happened>" lines, and the notes.
void print_sync_messages(const SyncReport& report, bool dry_run, std::ostream& out);

/// True if `inner` lies wholly inside `outer`.
bool prefix_within(const wg::Prefix& inner, const wg::Prefix& outer);
/// True if the two prefixes share an address.
bool prefixes_overlap(const wg::Prefix& a, const wg::Prefix& b);

}  // namespace wgsd::client
