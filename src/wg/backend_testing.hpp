// Seams of the backends for tests: what they keep between calls, and the netlink socket a test can
// replace to play the kernel (and count how often a socket is opened).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "wg/backend.hpp"

namespace wgsd::wg {

/// True when the buffers a UAPI backend keeps between calls hold `text` anywhere (false for any
/// other backend): lets a test check that the private key's hex text does not outlive a read.
bool uapi_backend_retains(const Backend& backend, std::string_view text);

/// A bound generic netlink socket, as the netlink backend uses it. Errors throw wg::Error whose
/// message starts "netlink: <what>".
class NetlinkIo {
public:
  virtual ~NetlinkIo() = default;
  /// The port id the kernel addresses replies to.
  [[nodiscard]] virtual std::uint32_t port_id() const = 0;
  virtual void send(std::span<const std::byte> message, const std::string& what) = 0;
  /// One datagram into `buf` (4-byte aligned); its length.
  virtual std::size_t receive(std::span<std::byte> buf, const std::string& what) = 0;
};

/// Opens a socket; called once, and again after a failure.
using NetlinkOpener = std::function<std::unique_ptr<NetlinkIo>()>;

/// The netlink backend over sockets from `open`.
std::unique_ptr<Backend> make_netlink_backend(NetlinkOpener open);

/// True when the receive buffer a netlink backend keeps between calls holds `bytes` anywhere
/// (false for any other backend).
bool netlink_backend_retains(const Backend& backend, std::span<const std::byte> bytes);

}  // namespace wgsd::wg
