// Logging for the server: CoreDNS-style "[INFO]"/"[ERROR]" lines on stderr, and the `log`
// directive's common log format for queries.
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <span>
#include <string>

#include "dns/responder.hpp"
#include "wg/address.hpp"

namespace wgsd::server {

/// Line-buffered, thread-safe logger: stderr, or `sink` when one is given (tests).
class Log {
public:
  Log() = default;
  explicit Log(std::function<void(const std::string&)> sink) : sink_(std::move(sink)) {}
  void info(const std::string& line);
  void error(const std::string& line);
  void write(const std::string& line);

private:
  std::mutex mutex_;
  std::function<void(const std::string&)> sink_;
};

/// CoreDNS log plugin's default format:
/// `127.0.0.1:40212 - 22429 "SRV IN name. udp 111 false 1232" NOERROR qr,aa,rd 604 0.000071s`
std::string format_query(const wg::Endpoint& remote, std::span<const std::uint8_t> query, const dns::ResponseInfo& info,
                         dns::Transport transport, std::chrono::nanoseconds duration);

}  // namespace wgsd::server
