// One DNS exchange with one registry: random ID, RD, EDNS(0) 1232, timeout and retries over UDP,
// TCP when the reply is truncated. A reply is accepted only if it comes from the server's address,
// carries our ID with QR set, and repeats our question; everything else is ignored.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "wg/address.hpp"

namespace wgsd::client {

/// A lookup that failed: timeout, refused connection, no matching reply. The message says which.
class LookupError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

struct ResolverOptions {
  std::chrono::milliseconds timeout{2000};   ///< per attempt
  unsigned retries{2};                       ///< further UDP attempts after the first
  const std::atomic<bool>* stop{nullptr};    ///< when set and true, waiting ends at once
};

/// Builds a query: random ID (returned through `id`), RD set, EDNS(0) with a 1232-byte payload.
std::vector<std::uint8_t> build_query(const std::string& qname, std::uint16_t qtype, std::uint16_t& id);

/// True if `reply` answers `query`: same ID, QR set, one question equal to ours (names compared
/// without regard to case, as DNS does).
bool reply_matches(const std::vector<std::uint8_t>& query, const std::uint8_t* reply, std::size_t size);

class Resolver {
public:
  Resolver(wg::Endpoint server, ResolverOptions options) : server_(server), options_(options) {}
  /// The raw reply to `qname`/`qtype`. Throws LookupError.
  std::vector<std::uint8_t> query(const std::string& qname, std::uint16_t qtype) const;
  const wg::Endpoint& server() const { return server_; }

private:
  std::vector<std::uint8_t> udp(const std::vector<std::uint8_t>& query) const;
  std::vector<std::uint8_t> tcp(const std::vector<std::uint8_t>& query) const;
  wg::Endpoint server_;
  ResolverOptions options_;
};

}  // namespace wgsd::client
