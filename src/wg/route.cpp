#include "wg/route.hpp"

#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstring>
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

struct Listed {
  unsigned index{};
  std::vector<Prefix> prefixes;
};

int route_attr(const nlattr* attr, void* data) {
  auto** tb = static_cast<const nlattr**>(data);
  const int type = mnl_attr_get_type(attr);
  if (mnl_attr_type_valid(attr, RTA_MAX) < 0) return MNL_CB_OK;
  tb[type] = attr;
  return MNL_CB_OK;
}

// One route of the dump: kept when it is wgsd's, in the main table, through the interface.
int route_entry(const nlmsghdr* nlh, void* data) {
  auto* listed = static_cast<Listed*>(data);
  const auto* rtm = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(nlh));
  if (rtm->rtm_protocol != route_protocol || rtm->rtm_table != RT_TABLE_MAIN) return MNL_CB_OK;
  if (rtm->rtm_family != AF_INET && rtm->rtm_family != AF_INET6) return MNL_CB_OK;
  const nlattr* tb[RTA_MAX + 1] = {};
  mnl_attr_parse(nlh, sizeof(*rtm), route_attr, tb);
  if (!tb[RTA_OIF] || mnl_attr_get_u32(tb[RTA_OIF]) != listed->index) return MNL_CB_OK;
  const std::size_t size = rtm->rtm_family == AF_INET ? 4 : 16;
  std::array<std::uint8_t, 16> bytes{};
  if (tb[RTA_DST]) {
    if (mnl_attr_get_payload_len(tb[RTA_DST]) != size) return MNL_CB_OK;
    std::memcpy(bytes.data(), mnl_attr_get_payload(tb[RTA_DST]), size);
  }
  const auto address = size == 4 ? IpAddress::v4({bytes[0], bytes[1], bytes[2], bytes[3]}) : IpAddress::v6(bytes);
  listed->prefixes.emplace_back(address, rtm->rtm_dst_len);
  return MNL_CB_OK;
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

namespace wgsd::wg {

std::vector<Prefix> list_routes(const std::string& ifname) {
  const std::string what = "list wgsd's routes dev " + ifname;
  Listed listed{index_of(ifname, what), {}};
  std::unique_ptr<mnl_socket, MnlDeleter> sock(mnl_socket_open(NETLINK_ROUTE));
  if (!sock) throw Error(errno, "rtnetlink: " + what + ": open socket");
  if (mnl_socket_bind(sock.get(), 0, MNL_SOCKET_AUTOPID) < 0) throw Error(errno, "rtnetlink: " + what + ": bind");
  for (const int family : {AF_INET, AF_INET6}) {
    std::vector<std::uint32_t> req(256 / 4);
    nlmsghdr* nlh = mnl_nlmsg_put_header(req.data());
    nlh->nlmsg_type = RTM_GETROUTE;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    nlh->nlmsg_seq = static_cast<std::uint32_t>(family);
    auto* rtm = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
    rtm->rtm_family = static_cast<unsigned char>(family);
    if (mnl_socket_sendto(sock.get(), nlh, nlh->nlmsg_len) < 0) throw Error(errno, "rtnetlink: " + what + ": send");
    std::vector<std::uint32_t> buf(MNL_SOCKET_BUFFER_SIZE / 4);
    for (;;) {
      const ssize_t n = mnl_socket_recvfrom(sock.get(), buf.data(), buf.size() * 4);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw Error(errno, "rtnetlink: " + what + ": receive");
      const int r = mnl_cb_run(buf.data(), static_cast<std::size_t>(n), nlh->nlmsg_seq, mnl_socket_get_portid(sock.get()), route_entry, &listed);
      if (r < 0) throw Error(errno, "rtnetlink: " + what);
      if (r == MNL_CB_STOP) break;
    }
  }
  return listed.prefixes;
}

}  // namespace wgsd::wg
