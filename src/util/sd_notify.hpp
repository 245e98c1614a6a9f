// systemd's notify protocol (sd_notify(3), sd_watchdog_enabled(3)) without libsystemd: one
// datagram on the AF_UNIX socket named by $NOTIFY_SOCKET, and the watchdog period from
// $WATCHDOG_USEC. libsystemd would bring gcrypt, zstd, lzma and lz4 into both programs' address
// space for these two calls.
#pragma once

#include <cstdint>
#include <string_view>

namespace wgsd::util {

/// Sends `message` ("READY=1\nSTATUS=...") as one datagram to $NOTIFY_SOCKET: a path ("/run/...")
/// or an abstract address ("@name"). 0 when NOTIFY_SOCKET is unset or empty (not started by
/// systemd as Type=notify), a positive value once sent, -errno when it cannot be sent (-EINVAL for
/// an empty message or a NOTIFY_SOCKET that is neither a path nor an abstract address).
int sd_notify(std::string_view message) noexcept;

/// Whether the service manager expects WATCHDOG=1 pings: 1 with `*usec` set to $WATCHDOG_USEC when
/// it does; 0 when WATCHDOG_USEC is unset or WATCHDOG_PID names another process; -EINVAL when
/// either variable is not a number (or WATCHDOG_USEC is 0). `*usec` is untouched unless 1.
int sd_watchdog_enabled(std::uint64_t* usec) noexcept;

}  // namespace wgsd::util
