// The one interface between wgsd and a WireGuard device: read it whole, apply a small update.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "wg/types.hpp"

namespace wgsd::wg {

/// How a backend reaches a device: what decides the privileges reading it takes.
struct Access {
  /// absent: chosen by what exists, and neither a UAPI socket nor an interface does now.
  enum class Kind { none, netlink, uapi, absent };
  Kind kind{Kind::none};
  std::string socket;  ///< uapi: the socket's path
};

/// One caller at a time: an implementation may keep buffers between calls.
class Backend {
public:
  virtual ~Backend() = default;
  /// Reads the whole device. Throws wg::Error; `no_such_device()` is true when it does not exist.
  virtual Device get_device(const std::string& name) = 0;
  /// Applies `update` (peers' endpoints only). Throws wg::Error.
  virtual void apply(const DeviceUpdate& update) = 0;
  /// How `name` would be reached now (none: a backend that needs no privilege, such as a test's).
  [[nodiscard]] virtual Access access(const std::string& name) const {
    (void)name;
    return {};
  }
};

enum class BackendKind { automatic, uapi, netlink };

/// "auto" | "uapi" | "netlink"; nullopt otherwise.
std::optional<BackendKind> parse_backend_kind(std::string_view text);

/// Default UAPI socket directory, shared by every network namespace.
inline constexpr const char* default_uapi_dir = "/var/run/wireguard";

struct BackendOptions {
  std::string uapi_dir = default_uapi_dir;
  std::chrono::milliseconds timeout{5000};   ///< whole-conversation deadline for one UAPI read or write
};

/// UAPI over `<uapi_dir>/<name>.sock`.
std::unique_ptr<Backend> make_uapi_backend(const BackendOptions& options = {});
/// Kernel generic netlink family "wireguard".
std::unique_ptr<Backend> make_netlink_backend();
/// As wg(8): UAPI if the socket exists, else netlink; "no such device" from whichever was tried last.
std::unique_ptr<Backend> make_backend(BackendKind kind, const BackendOptions& options = {});

/// Throws wg::Error(invalid_argument) unless `name` is a usable interface name (1-15 bytes, no '/').
void check_device_name(const std::string& name);

}  // namespace wgsd::wg
