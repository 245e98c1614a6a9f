// The cross-platform WireGuard UAPI text protocol (wireguard-go, boringtun): pure codec, no I/O.
#pragma once

#include <string>
#include <string_view>

#include "wg/types.hpp"

namespace wgsd::wg {

/// Parses the complete reply to `get=1` (key=value lines ending in `errno=N` and an empty line).
/// The private key is read only to derive `public_key`, then wiped. Unknown keys are skipped (newer
/// daemons add keys). Throws wg::Error naming the line and value on malformed input, or carrying
/// errno N when the daemon reports `errno=N` with N != 0. `device` is used in messages only.
Device parse_uapi_get(std::string_view reply, const std::string& device);

/// The `set=1` request for `update`: per peer `public_key`, `update_only=true`, `endpoint`, nothing else.
std::string format_uapi_set(const DeviceUpdate& update);

/// Parses the reply to `set=1` (`errno=N` and an empty line). Throws wg::Error unless N is 0.
void parse_uapi_set_reply(std::string_view reply, const std::string& device);

}  // namespace wgsd::wg
