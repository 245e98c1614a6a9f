// The cross-platform WireGuard UAPI text protocol (wireguard-go, boringtun): pure codec, no I/O.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "wg/types.hpp"

namespace wgsd::wg {

/// Parses the complete reply to `get=1` (key=value lines ending in `errno=N` and an empty line).
/// The private key is read only to derive `public_key`, then wiped. Unknown keys are skipped (newer
/// daemons add keys). Throws wg::Error naming the line and value on malformed input, or carrying
/// errno N when the daemon reports `errno=N` with N != 0. `device` is used in messages only.
Device parse_uapi_get(std::string_view reply, const std::string& device);

/// The same parse, fed as the reply arrives: nothing holds the whole reply, and the work is spread
/// over the read instead of following it. A line cut between two feeds is kept until it is
/// complete and zeroed once parsed (it may carry the private key). Errors are those of parse_uapi_get, thrown from the
/// feed() that brings the bad line (or from finish() for a reply that stops short).
class UapiGetParser {
public:
  /// `expected_peers` sizes the peer list up front (the last read's count is a good guess).
  explicit UapiGetParser(const std::string& device, std::size_t expected_peers = 0);
  ~UapiGetParser();
  UapiGetParser(const UapiGetParser&) = delete;
  UapiGetParser& operator=(const UapiGetParser&) = delete;

  /// Parses the complete lines of `chunk` (a line may span chunks). True once the blank line that
  /// ends the reply was read; more data after it throws.
  bool feed(std::string_view chunk);
  /// The device; throws when the reply has not ended.
  Device finish();

  /// True when a buffer the parser keeps between feeds holds `text` anywhere, in bytes in use or
  /// not: lets a test check that the private key's hex text does not outlive its line.
  [[nodiscard]] bool retains(std::string_view text) const;

private:
  struct State;
  std::unique_ptr<State> state_;
};

/// The `set=1` request for `update`: per peer `public_key`, then `remove=true` alone, or
/// `update_only=true`, `endpoint`, `persistent_keepalive_interval` and `replace_allowed_ips=true`
/// with the `allowed_ip` lines, as far as the update gives them. Never a private key.
std::string format_uapi_set(const DeviceUpdate& update);

/// Parses the reply to `set=1` (`errno=N` and an empty line). Throws wg::Error unless N is 0.
void parse_uapi_set_reply(std::string_view reply, const std::string& device);

}  // namespace wgsd::wg
