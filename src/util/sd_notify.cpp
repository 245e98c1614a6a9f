#include "util/sd_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <limits>

namespace wgsd::util {
namespace {

// A whole decimal number, nothing before or after it.
bool parse_u64(const char* text, std::uint64_t& value) {
  const char* end = text + std::strlen(text);
  const auto [ptr, ec] = std::from_chars(text, end, value);
  return text != end && ec == std::errc() && ptr == end;
}

}  // namespace

int sd_notify(std::string_view message) noexcept {
  const char* socket_name = std::getenv("NOTIFY_SOCKET");
  if (socket_name == nullptr || *socket_name == '\0') return 0;
  if (message.empty()) return -EINVAL;
  const std::size_t name_len = std::strlen(socket_name);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  socklen_t addr_len = 0;
  if (socket_name[0] == '/') {  // a path, NUL-terminated in the address
    if (name_len >= sizeof addr.sun_path) return -EINVAL;
    std::memcpy(addr.sun_path, socket_name, name_len);
    addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name_len + 1);
  } else if (socket_name[0] == '@') {  // abstract: a leading NUL, the name's exact length, no terminator
    if (name_len > sizeof addr.sun_path) return -EINVAL;
    std::memcpy(addr.sun_path + 1, socket_name + 1, name_len - 1);
    addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name_len);
  } else {
    return -EINVAL;
  }
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  const ssize_t sent = ::sendto(fd, message.data(), message.size(), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&addr), addr_len);
  const int error = errno;
  ::close(fd);
  if (sent < 0) return -error;
  if (static_cast<std::size_t>(sent) != message.size()) return -EMSGSIZE;
  return 1;
}

int sd_watchdog_enabled(std::uint64_t* usec) noexcept {
  const char* usec_text = std::getenv("WATCHDOG_USEC");
  if (usec_text == nullptr) return 0;
  std::uint64_t period = 0;
  if (!parse_u64(usec_text, period) || period == 0 || period == std::numeric_limits<std::uint64_t>::max()) return -EINVAL;
  if (const char* pid_text = std::getenv("WATCHDOG_PID")) {
    std::uint64_t pid = 0;
    if (!parse_u64(pid_text, pid) || pid == 0) return -EINVAL;
    if (pid != static_cast<std::uint64_t>(::getpid())) return 0;  // meant for another process (our parent's)
  }
  if (usec != nullptr) *usec = period;
  return 1;
}

}  // namespace wgsd::util
