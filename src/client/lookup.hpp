// The lookups of one round: every peer at every registry, in one thread, one event loop over at
// most `concurrency` exchanges in flight. No thread is started per lookup, so the client runs
// under a hardened unit's process limit (LimitNPROC) whatever the number of peers.
#pragma once

#include <poll.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "dns/tsig.hpp"
#include "wg/address.hpp"

namespace wgsd::client {

struct LookupOptions {
  std::chrono::milliseconds timeout{2000};   ///< per attempt
  unsigned retries{2};                       ///< further UDP attempts after the first
  unsigned concurrency{32};                  ///< exchanges in flight at once (at least 1)
  const std::atomic<bool>* stop{nullptr};    ///< when set and true, the round ends within 100 ms
  int stop_fd{-1};                           ///< when readable (a signalfd), the round ends at once
  /// The event loop's wait; empty is ::poll. A seam for tests (a poll that fails, a poll that counts).
  std::function<int(pollfd*, nfds_t, int)> poll;
  const dns::tsig::Key* key{};               ///< TSIG: sign every query, accept only answers it verifies
  /// Also ask each name's TXT (after the SRV and its address), and take the allowed IPs and the
  /// handshake from it: a peer without an endpoint is then `no_endpoint` rather than `not_found`,
  /// and a long allowed-IP list is read whole even when the SRV answer had no room for its TXT.
  bool txt{};
};

/// What one registry said about one peer.
struct RegistryAnswer {
  enum class Kind { found, not_found, failed, stopped, no_endpoint /* only with LookupOptions::txt: TXT, no SRV */ };
  Kind kind{Kind::failed};
  std::string error;                         ///< for failed: what went wrong, in words
  wg::Endpoint endpoint;                     ///< for found (the address unmapped)
  std::optional<std::int64_t> handshake;     ///< TXT handshake=, if the registry gave it
  std::vector<wg::Prefix> allowed;           ///< TXT allowed=, allowed2=, ...
};

/// Asks every registry for the SRV of every name in `qnames` (then A and AAAA for the target when
/// the SRV came without its address). Result: [name][registry], in the order given. Never throws
/// for a lookup: a failure is an answer of kind `failed`. When stopped, what is unfinished is of
/// kind `stopped`. If the loop itself cannot wait (poll fails), what is unfinished fails with why.
std::vector<std::vector<RegistryAnswer>> lookup_all(const std::vector<std::string>& qnames,
                                                    const std::vector<wg::Endpoint>& registries, const LookupOptions& options);

/// True once `options` asks the round to stop (the flag is set or the stop fd is readable).
bool stop_requested(const LookupOptions& options);

}  // namespace wgsd::client
