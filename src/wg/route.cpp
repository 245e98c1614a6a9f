#include "wg/route.hpp"

#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <memory>

#include "wg/error.hpp"

namespace wgsd::wg {
namespace {

struct MnlDeleter {
  void operator()(mnl_socket* s) const noexcept { mnl_socket_close(s); }
};

// Sends one request and waits for its ACK; the errno of a refusal, 0 when done.
int request(const std::string& what, bool add, unsigned index, const Prefix& prefix) {
  std::unique_ptr<mnl_socket, MnlDeleter> sock(mnl_socket_open(NETLINK_ROUTE));
  if (!sock) throw Error(errno, "rtnetlink: " + what + ": open socket");
  if (mnl_socket_bind(sock.get(), 0, MNL_SOCKET_AUTOPID) < 0) throw Error(errno, "rtnetlink: " + what + ": bind");
  const auto req = build_route_request(add, static_cast<int>(index), prefix, 1);
  if (mnl_socket_sendto(sock.get(), req.data(), req.size()) < 0) throw Error(errno, "rtnetlink: " + what + ": send");
  std::vector<std::uint32_t> buf(MNL_SOCKET_BUFFER_SIZE / 4);
  for (;;) {
    const ssize_t n = mnl_socket_recvfrom(sock.get(), buf.data(), buf.size() * 4);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(errno, "rtnetlink: " + what + ": receive");
    const int r = mnl_cb_run(buf.data(), static_cast<std::size_t>(n), 1, mnl_socket_get_portid(sock.get()), nullptr, nullptr);
    return r >= 0 ? 0 : errno;
  }
}

unsigned index_of(const std::string& ifname, const std::string& what) {
  const unsigned index = ::if_nametoindex(ifname.c_str());
  if (index == 0) throw Error(std::errc::no_such_device, "rtnetlink: " + what + ": no such device '" + ifname + "'");
  return index;
}

}  // namespace

std::vector<std::byte> build_route_request(bool add, int ifindex, const Prefix& prefix, std::uint32_t seq) {
  std::vector<std::uint32_t> buf(256 / 4);
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
  nlh->nlmsg_type = add ? RTM_NEWROUTE : RTM_DELROUTE;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | (add ? NLM_F_CREATE | NLM_F_EXCL : 0);
  nlh->nlmsg_seq = seq;
  auto* rtm = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
  rtm->rtm_family = prefix.address().is_v4() ? AF_INET : AF_INET6;
  rtm->rtm_dst_len = prefix.length();
  rtm->rtm_table = RT_TABLE_MAIN;
  rtm->rtm_protocol = route_protocol;
  rtm->rtm_scope = add ? RT_SCOPE_LINK : RT_SCOPE_NOWHERE;
  rtm->rtm_type = RTN_UNICAST;
  mnl_attr_put(nlh, RTA_DST, prefix.address().size(), prefix.address().data());
  mnl_attr_put_u32(nlh, RTA_OIF, static_cast<std::uint32_t>(ifindex));
  const auto* bytes = reinterpret_cast<const std::byte*>(buf.data());
  return {bytes, bytes + nlh->nlmsg_len};
}

void add_route(const std::string& ifname, const Prefix& prefix) {
  const std::string what = "add route " + prefix.to_string() + " dev " + ifname;
  const unsigned index = index_of(ifname, what);
  int err = request(what, true, index, prefix);
  if (err == EEXIST) {
    // A route to this very prefix is there. Ours (wgsd's protocol, this device: left by an earlier
    // run) is deleted and added again; the delete matches nothing else, so anyone else's stays.
    const int gone = request(what, false, index, prefix);
    if (gone == 0) err = request(what, true, index, prefix);
    if (err == EEXIST) {
      throw Error(std::errc::file_exists, "rtnetlink: " + what + ": a route to " + prefix.to_string() +
                                              " already exists that wgsd did not add (see 'ip route show " + prefix.to_string() +
                                              "'): it is left as it is and the prefix is not routed here");
    }
  }
  if (err != 0) throw Error(err, "rtnetlink: " + what);
}

void delete_route(const std::string& ifname, const Prefix& prefix) {
  const std::string what = "delete route " + prefix.to_string() + " dev " + ifname;
  const int err = request(what, false, index_of(ifname, what), prefix);
  if (err != 0 && err != ESRCH) throw Error(err, "rtnetlink: " + what);
}

}  // namespace wgsd::wg
