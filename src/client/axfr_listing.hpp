// The listing of --sync by zone transfer: one AXFR of the zone over TCP, whose PTR records of the
// service name are the peers. Unlike a PTR answer (one message, at most 64 KB, about a thousand
// peers) a transfer carries however many peers the zone holds.
//
// Every message of a signed transfer must be signed and verify, each MAC chained to the one before
// (the registry signs every message); an unsigned or badly signed message ends the transfer as
// failed. A transfer is bounded in bytes, messages and time. A registry that refuses transfers
// (REFUSED, NOTAUTH, NOTIMP) gives `refused`: the caller then lists by PTR over TCP.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "dns/tsig.hpp"
#include "wg/address.hpp"
#include "wg/key.hpp"

namespace wgsd::client {

struct AxfrLimits {
  std::chrono::milliseconds message_timeout{2000};   ///< connecting, and between two messages
  std::chrono::milliseconds total{30000};            ///< the whole transfer
  std::size_t max_bytes{64u << 20};                  ///< of all messages together
  std::size_t max_messages{65536};
};

struct AxfrListing {
  enum class Result { done, refused, failed };
  Result result{Result::failed};
  std::string error;               ///< refused or failed: why, in words
  std::vector<wg::Key> keys;       ///< done: the peers, in the order given, each once
  std::size_t ignored{};           ///< PTR targets that are not `<base32 key>.<service name>`
  std::size_t messages{};
  std::size_t bytes{};
};

/// Transfers `zone` (text, trailing dot) from `server`, signed with `key` when it is not null, and
/// reads the PTR set of `_wireguard._udp.<zone>`. `stop_fd` (a signalfd, or -1) ends it early as
/// failed. Never throws.
AxfrListing axfr_listing(const wg::Endpoint& server, const std::string& zone, const dns::tsig::Key* key, const AxfrLimits& limits,
                         int stop_fd = -1);

}  // namespace wgsd::client
