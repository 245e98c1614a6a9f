// The `log` directive's line per query, in CoreDNS's common log format; the log itself is server/log.hpp.
#pragma once

#include <chrono>
#include <span>
#include <string>

#include "dns/responder.hpp"
#include "server/log.hpp"
#include "wg/address.hpp"

namespace wgsd::server {

/// The name in `wire` (uncompressed) in presentation format, for a quoted log field: `.` and `\`
/// inside a label, and `"`, are escaped with a backslash; bytes outside printable ASCII (and the
/// space) as `\DDD`. The root is ".".
std::string log_name(std::span<const std::uint8_t> wire);

/// CoreDNS log plugin's default format:
/// `127.0.0.1:40212 - 22429 "SRV IN name. udp 111 false 1232" NOERROR qr,aa,rd 604 0.000071s`
std::string format_query(const wg::Endpoint& remote, std::span<const std::uint8_t> query, const dns::ResponseInfo& info,
                         dns::Transport transport, std::chrono::nanoseconds duration);

}  // namespace wgsd::server
