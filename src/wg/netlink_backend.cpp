// Netlink transport: a generic netlink socket that moves the codec's bytes to and from the kernel.
#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "wg/backend.hpp"
#include "wg/error.hpp"
#include "wg/netlink_codec.hpp"

namespace wgsd::wg {
namespace {

struct MnlDeleter {
  void operator()(mnl_socket* s) const noexcept { mnl_socket_close(s); }
};

// open → bind → resolve "wireguard". The socket is owned by a unique_ptr from the first line, so a
// throw anywhere in the constructor leaks nothing.
class NetlinkSocket {
public:
  NetlinkSocket() : sock_(mnl_socket_open(NETLINK_GENERIC)), buf_(32768 / 4) {
    if (!sock_) throw Error(errno, "netlink: open socket");
    if (mnl_socket_bind(sock_.get(), 0, MNL_SOCKET_AUTOPID) < 0) throw Error(errno, "netlink: bind");
    portid_ = mnl_socket_get_portid(sock_.get());
    seq_ = static_cast<std::uint32_t>(::time(nullptr));
    timeval tv{5, 0};
    ::setsockopt(mnl_socket_get_fd(sock_.get()), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    family_id_ = parse_family_id(request(build_get_family(++seq_), "resolve family 'wireguard'"));
  }

  [[nodiscard]] std::uint16_t family_id() const noexcept { return family_id_; }
  std::uint32_t next_seq() noexcept { return ++seq_; }

  // Sends one request and returns every reply message up to NLMSG_DONE, the final ACK or an error,
  // concatenated; the codec interprets them.
  std::vector<std::byte> request(const std::vector<std::byte>& msg, const std::string& what) {
    nlmsghdr hdr{};
    std::memcpy(&hdr, msg.data(), sizeof hdr);
    if (mnl_socket_sendto(sock_.get(), msg.data(), msg.size()) < 0) throw Error(errno, "netlink: " + what + ": send");
    std::vector<std::byte> out;
    for (;;) {
      const ssize_t n = mnl_socket_recvfrom(sock_.get(), buf_.data(), buf_.size() * 4);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw Error(errno, "netlink: " + what + ": receive");
      }
      bool done = false;
      const auto* nlh = reinterpret_cast<const nlmsghdr*>(buf_.data());
      int left = static_cast<int>(n);
      for (; message_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
        if (nlh->nlmsg_seq != hdr.nlmsg_seq || nlh->nlmsg_pid != portid_) continue;  // not ours
        const auto* begin = reinterpret_cast<const std::byte*>(nlh);
        out.insert(out.end(), begin, begin + nlh->nlmsg_len);
        if (nlh->nlmsg_type == NLMSG_DONE || nlh->nlmsg_type == NLMSG_ERROR) done = true;
      }
      if (done) return out;
    }
  }

private:
  std::unique_ptr<mnl_socket, MnlDeleter> sock_;
  std::vector<std::uint32_t> buf_;
  std::uint32_t portid_{};
  std::uint32_t seq_{};
  std::uint16_t family_id_{};
};

class NetlinkBackend final : public Backend {
public:
  Device get_device(const std::string& name) override {
    check_device_name(name);
    NetlinkSocket sock;
    const auto reply = sock.request(build_get_device(sock.family_id(), sock.next_seq(), name), "get device '" + name + "'");
    return parse_device_messages(reply, name);
  }

  void apply(const DeviceUpdate& update) override {
    check_device_name(update.name);
    NetlinkSocket sock;
    const auto reply = sock.request(build_set_device(sock.family_id(), sock.next_seq(), update), "set device '" + update.name + "'");
    // The reply is a single NLMSG_ERROR: 0 is the ACK.
    nlmsghdr hdr{};
    if (reply.size() < sizeof hdr + sizeof(nlmsgerr)) throw Error(std::errc::bad_message, "netlink: set device '" + update.name + "': short reply");
    std::memcpy(&hdr, reply.data(), sizeof hdr);
    nlmsgerr err{};
    std::memcpy(&err, reply.data() + MNL_NLMSG_HDRLEN, sizeof err);
    if (hdr.nlmsg_type != NLMSG_ERROR) throw Error(std::errc::bad_message, "netlink: set device '" + update.name + "': unexpected reply");
    if (err.error == 0) return;
    if (error_code(err.error) == ENODEV) throw Error(std::errc::no_such_device, "no such device '" + update.name + "'");
    throw Error(error_code(err.error), "netlink: set device '" + update.name + "'");
  }
};

}  // namespace

std::unique_ptr<Backend> make_netlink_backend() { return std::make_unique<NetlinkBackend>(); }

}  // namespace wgsd::wg
