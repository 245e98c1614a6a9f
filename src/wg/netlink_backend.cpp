// Netlink transport: a generic netlink socket that moves the codec's bytes to and from the kernel.
// The socket and the family id are kept between calls: a refresh is one dump, not a socket, a bind,
// a family lookup and then the dump. Any failure but "no such device" drops them; the next call
// starts afresh (a reloaded module may have a new family id).
#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <sodium.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <memory>
#include <type_traits>

#include "wg/backend.hpp"
#include "wg/backend_testing.hpp"
#include "wg/error.hpp"
#include "wg/netlink_codec.hpp"
#include "wg/wipe.hpp"

namespace wgsd::wg {
namespace {

struct MnlDeleter {
  void operator()(mnl_socket* s) const noexcept { mnl_socket_close(s); }
};

// The kernel's side: a bound NETLINK_GENERIC socket. Owned by a unique_ptr from the first line, so
// a throw anywhere in the constructor leaks nothing.
class MnlIo final : public NetlinkIo {
public:
  MnlIo() : sock_(mnl_socket_open(NETLINK_GENERIC)) {
    if (!sock_) throw Error(errno, "netlink: open socket");
    if (mnl_socket_bind(sock_.get(), 0, MNL_SOCKET_AUTOPID) < 0) throw Error(errno, "netlink: bind");
    timeval tv{5, 0};
    if (::setsockopt(mnl_socket_get_fd(sock_.get()), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0) {
      throw Error(errno, "netlink: set receive timeout");
    }
  }

  [[nodiscard]] std::uint32_t port_id() const override { return mnl_socket_get_portid(sock_.get()); }

  void send(std::span<const std::byte> message, const std::string& what) override {
    if (mnl_socket_sendto(sock_.get(), message.data(), message.size()) < 0) throw Error(errno, "netlink: " + what + ": send");
  }

  std::size_t receive(std::span<std::byte> buf, const std::string& what) override {
    for (;;) {
      const ssize_t n = mnl_socket_recvfrom(sock_.get(), buf.data(), buf.size());
      if (n >= 0) return static_cast<std::size_t>(n);
      if (errno != EINTR) throw Error(errno, "netlink: " + what + ": receive");
    }
  }

private:
  std::unique_ptr<mnl_socket, MnlDeleter> sock_;
};

class NetlinkBackend final : public Backend {
public:
  explicit NetlinkBackend(NetlinkOpener open) : open_(std::move(open)), buf_(recv_size / 4) {}

  Device get_device(const std::string& name) override {
    check_device_name(name);
    return with_socket([&] {
      const auto reply = request(build_get_device(family_id_, ++seq_, name), "get device '" + name + "'");
      return parse_device_messages(reply, name);
    });
  }

  [[nodiscard]] Access access(const std::string& name) const override {
    (void)name;
    return Access{Access::Kind::netlink, {}};
  }

  // A large update goes as several messages (see build_set_device), each acknowledged before the
  // next is sent, as wg(8) does; a refusal stops there, with what went before already applied.
  void apply(const DeviceUpdate& update) override {
    check_device_name(update.name);
    with_socket([&] {
      const auto messages = build_set_device(family_id_, seq_ + 1, update);
      seq_ += static_cast<std::uint32_t>(messages.size());
      for (std::size_t i = 0; i < messages.size(); ++i) {
        std::string what = "set device '" + update.name + "'";
        if (messages.size() > 1) what += " (message " + std::to_string(i + 1) + " of " + std::to_string(messages.size()) + ")";
        check_ack(request(messages[i], what), update.name, what);
      }
    });
  }

  [[nodiscard]] bool retains(std::span<const std::byte> bytes) const {
    const std::span<const std::byte> all(reinterpret_cast<const std::byte*>(buf_.data()), buf_.size() * 4);
    return !bytes.empty() && std::search(all.begin(), all.end(), bytes.begin(), bytes.end()) != all.end();
  }

private:
  static constexpr std::size_t recv_size = 32768;

  // The reply to a set is a single NLMSG_ERROR: 0 is the ACK.
  static void check_ack(const std::vector<std::byte>& reply, const std::string& name, const std::string& what) {
    nlmsghdr hdr{};
    if (reply.size() < sizeof hdr + sizeof(nlmsgerr)) throw Error(std::errc::bad_message, "netlink: " + what + ": short reply");
    std::memcpy(&hdr, reply.data(), sizeof hdr);
    nlmsgerr err{};
    std::memcpy(&err, reply.data() + MNL_NLMSG_HDRLEN, sizeof err);
    if (hdr.nlmsg_type != NLMSG_ERROR) throw Error(std::errc::bad_message, "netlink: " + what + ": unexpected reply");
    if (err.error == 0) return;
    if (error_code(err.error) == ENODEV) {
      // A later message of a split update names its place: the ones before it were applied.
      const auto part = what.find(" (message ");
      throw Error(std::errc::no_such_device, "no such device '" + name + "'" + (part == std::string::npos ? "" : what.substr(part)));
    }
    throw Error(error_code(err.error), "netlink: " + what);
  }

  // Runs `f` on an open socket with the family resolved.
  template <typename F>
  std::invoke_result_t<F&> with_socket(F&& f) {
    try {
      if (!io_) connect();
      return f();
    } catch (const Error& e) {
      if (e.code() != std::make_error_code(std::errc::no_such_device)) io_.reset();
      throw;
    } catch (...) {
      io_.reset();
      throw;
    }
  }

  void connect() {
    io_ = open_();
    port_id_ = io_->port_id();
    seq_ = static_cast<std::uint32_t>(::time(nullptr));
    family_id_ = 0;
    family_id_ = parse_family_id(request(build_get_family(++seq_), "resolve family 'wireguard'"));
  }

  // Sends one request and returns every reply message up to NLMSG_DONE, the final ACK or an error,
  // concatenated; the codec interprets them. A device's private key is zeroed in the receive
  // buffer before anything is copied out of it, and the buffer is zeroed when the request ends.
  std::vector<std::byte> request(const std::vector<std::byte>& msg, const std::string& what) {
    nlmsghdr hdr{};
    std::memcpy(&hdr, msg.data(), sizeof hdr);
    io_->send(msg, what);
    auto* const buf = reinterpret_cast<std::byte*>(buf_.data());
    std::size_t used = 0;
    const WipeOnExit wipe(buf, used);
    std::vector<std::byte> out;
    for (;;) {
      const std::size_t n = std::min(io_->receive({buf, recv_size}, what), recv_size);
      used = std::max(used, n);
      bool done = false;
      auto* nlh = reinterpret_cast<nlmsghdr*>(buf);
      int left = static_cast<int>(n);
      for (; message_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
        if (nlh->nlmsg_seq != hdr.nlmsg_seq || nlh->nlmsg_pid != port_id_) continue;  // not ours
        if (family_id_ != 0 && nlh->nlmsg_type == family_id_) wipe_private_key(nlh);
        const auto* begin = reinterpret_cast<const std::byte*>(nlh);
        out.insert(out.end(), begin, begin + nlh->nlmsg_len);
        if (nlh->nlmsg_type == NLMSG_DONE || nlh->nlmsg_type == NLMSG_ERROR) done = true;
      }
      if (done) return out;
    }
  }

  NetlinkOpener open_;
  std::unique_ptr<NetlinkIo> io_;
  std::vector<std::uint32_t> buf_;  // the receive buffer, 4-byte aligned for libmnl
  std::uint32_t port_id_{};
  std::uint32_t seq_{};
  std::uint16_t family_id_{};
};

}  // namespace

std::unique_ptr<Backend> make_netlink_backend(NetlinkOpener open) { return std::make_unique<NetlinkBackend>(std::move(open)); }

std::unique_ptr<Backend> make_netlink_backend() {
  return make_netlink_backend([] { return std::make_unique<MnlIo>(); });
}

bool netlink_backend_retains(const Backend& backend, std::span<const std::byte> bytes) {
  const auto* netlink = dynamic_cast<const NetlinkBackend*>(&backend);
  return netlink != nullptr && netlink->retains(bytes);
}

}  // namespace wgsd::wg
