// WireGuard generic netlink replies built byte for byte with libmnl's own writers, as the kernel
// sends them (no socket, no module needed).
#pragma once

#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/wireguard.h>
#include <netinet/in.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "support/keys.hpp"
#include "wg/address.hpp"

namespace wgsd::test {

inline constexpr std::uint16_t family = 0x1b;

// Appends netlink messages to one buffer, as a dump arrives.
class Dump {
public:
  nlmsghdr* begin(const char* ifname = "wg0", bool device_attrs = true) {
    nlh_ = mnl_nlmsg_put_header(space());
    nlh_->nlmsg_type = family;
    nlh_->nlmsg_flags = NLM_F_MULTI;
    auto* genl = static_cast<genlmsghdr*>(mnl_nlmsg_put_extra_header(nlh_, sizeof(genlmsghdr)));
    genl->cmd = WG_CMD_GET_DEVICE;
    genl->version = WG_GENL_VERSION;
    if (device_attrs) {
      mnl_attr_put_u32(nlh_, WGDEVICE_A_IFINDEX, 7);
      mnl_attr_put_strz(nlh_, WGDEVICE_A_IFNAME, ifname);
      mnl_attr_put(nlh_, WGDEVICE_A_PUBLIC_KEY, 32, key_n(99).bytes().data());
      mnl_attr_put_u16(nlh_, WGDEVICE_A_LISTEN_PORT, 51820);
      mnl_attr_put_u32(nlh_, WGDEVICE_A_FWMARK, 0x42);
      mnl_attr_put_u32(nlh_, 200, 1);  // an attribute from a future kernel
    }
    return nlh_;
  }
  /// A message of any type with nothing in it yet.
  nlmsghdr* begin_raw(std::uint16_t type) {
    nlh_ = mnl_nlmsg_put_header(space());
    nlh_->nlmsg_type = type;
    return nlh_;
  }
  nlattr* peers() { return mnl_attr_nest_start(nlh_, WGDEVICE_A_PEERS); }
  nlattr* peer(unsigned n, std::uint16_t index) {
    nlattr* p = mnl_attr_nest_start(nlh_, index);
    mnl_attr_put(nlh_, WGPEER_A_PUBLIC_KEY, 32, key_n(n).bytes().data());
    return p;
  }
  void allowed(const char* text) {
    auto prefix = *wg::Prefix::parse(text);
    nlattr* a = mnl_attr_nest_start(nlh_, 0);
    mnl_attr_put_u16(nlh_, WGALLOWEDIP_A_FAMILY, prefix.address().is_v4() ? AF_INET : AF_INET6);
    mnl_attr_put(nlh_, WGALLOWEDIP_A_IPADDR, prefix.address().size(), prefix.address().data());
    mnl_attr_put_u8(nlh_, WGALLOWEDIP_A_CIDR_MASK, prefix.length());
    mnl_attr_nest_end(nlh_, a);
  }
  void endpoint(const char* text) {
    sockaddr_storage ss{};
    const auto len = wg::Endpoint::parse(text)->to_sockaddr(ss);
    mnl_attr_put(nlh_, WGPEER_A_ENDPOINT, len, &ss);
  }
  void end(nlattr* nest) { mnl_attr_nest_end(nlh_, nest); }
  nlmsghdr* nlh() { return nlh_; }
  void finish() { used_ += nlh_->nlmsg_len; }
  void done() {
    nlmsghdr* d = mnl_nlmsg_put_header(space());
    d->nlmsg_type = NLMSG_DONE;
    mnl_nlmsg_put_extra_header(d, sizeof(int));
    used_ += d->nlmsg_len;
  }
  void error(int err) {
    nlmsghdr* d = mnl_nlmsg_put_header(space());
    d->nlmsg_type = NLMSG_ERROR;
    auto* e = static_cast<nlmsgerr*>(mnl_nlmsg_put_extra_header(d, sizeof(nlmsgerr)));
    e->error = -err;
    used_ += d->nlmsg_len;
  }
  std::span<const std::byte> bytes() const { return {reinterpret_cast<const std::byte*>(buf_.data()), used_}; }
  std::vector<std::byte> copy() const { return {bytes().begin(), bytes().end()}; }

private:
  void* space() { return reinterpret_cast<char*>(buf_.data()) + used_; }
  std::vector<std::uint32_t> buf_ = std::vector<std::uint32_t>(16384);
  std::size_t used_{};
  nlmsghdr* nlh_{};
};

}  // namespace wgsd::test
