// WG_CMD_SET_DEVICE, split into messages that fit: after wireguard-tools ipc-linux.h kernel_set_device.
// A netlink attribute's length is 16 bits, so one message cannot carry a nest over 64 KiB (about
// 1,500 IPv6 allowed IPs, or a few hundred peers with a handful each): the kernel would read a
// length cut modulo 2^16 and drop or misread the rest. Every message here stays under a limit far
// below that, and a peer cut inside its allowed IPs continues in the next message.
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/wireguard.h>
#include <net/if.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <tuple>

#include "wg/error.hpp"
#include "wg/netlink_codec.hpp"

namespace wgsd::wg {
namespace {

class SetDeviceWriter {
public:
  SetDeviceWriter(std::uint16_t family_id, std::uint32_t first_seq, const DeviceUpdate& update, std::size_t limit)
      : family_id_(family_id), seq_(first_seq), update_(update), limit_(clamped(limit)),
        buf_(limit_ / 4 + 1) {}

  std::vector<std::vector<std::byte>> write() {
    do {
      const auto before = std::tuple(peer_, ip_, continuing_);
      begin_message();
      fill_message();
      if (peer_ < update_.peers.size() && std::tuple(peer_, ip_, continuing_) == before) {
        // Not one more attribute fits in an empty message: without this, the loop would never end.
        throw Error(std::errc::message_size, "netlink: set device '" + update_.name + "': peer " +
                                                 update_.peers[peer_].public_key.to_base64() + " does not fit in a message of " +
                                                 std::to_string(limit_) + " bytes");
      }
      const auto* bytes = reinterpret_cast<const std::byte*>(buf_.data());
      out_.emplace_back(bytes, bytes + nlh_->nlmsg_len);
    } while (peer_ < update_.peers.size());
    return std::move(out_);
  }

private:
  // At least the minimum, at most what a 16-bit netlink length holds, and a multiple of 4 so that
  // the padding of the last attribute never passes it.
  static std::size_t clamped(std::size_t limit) {
    return std::clamp(limit, set_device_message_minimum, std::size_t{65532}) & ~std::size_t{3};
  }

  void begin_message() {
    std::fill(buf_.begin(), buf_.end(), 0);
    nlh_ = mnl_nlmsg_put_header(buf_.data());
    nlh_->nlmsg_type = family_id_;
    nlh_->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    nlh_->nlmsg_seq = seq_++;
    auto* genl = static_cast<genlmsghdr*>(mnl_nlmsg_put_extra_header(nlh_, sizeof(genlmsghdr)));
    genl->cmd = WG_CMD_SET_DEVICE;
    genl->version = WG_GENL_VERSION;
    mnl_attr_put_strz(nlh_, WGDEVICE_A_IFNAME, update_.name.c_str());
  }

  // Puts peers from peer_ (and allowed IPs from ip_ when continuing one) until the update ends or
  // the next attribute does not fit; leaves peer_/ip_/continuing_ where the next message resumes.
  void fill_message() {
    if (update_.peers.empty()) return;
    nlattr* peers = mnl_attr_nest_start(nlh_, WGDEVICE_A_PEERS);
    std::uint16_t index = 0;
    for (; peer_ < update_.peers.size(); ++peer_, ip_ = 0, continuing_ = false) {
      const PeerUpdate& p = update_.peers[peer_];
      nlattr* peer = mnl_attr_nest_start_check(nlh_, limit_, index++);
      if (peer == nullptr || !peer_head(p)) {
        // Not even the peer's head fits: it starts afresh (or continues) in the next message.
        if (peer != nullptr) mnl_attr_nest_cancel(nlh_, peer);
        break;
      }
      if (!allowed_ips(p)) {
        // Cut inside the allowed IPs: what fitted is sent; the rest follows in the next message.
        mnl_attr_nest_end(nlh_, peer);
        continuing_ = true;
        break;
      }
      mnl_attr_nest_end(nlh_, peer);
    }
    mnl_attr_nest_end(nlh_, peers);
  }

  // The key and what goes once per peer; a continued peer repeats only the key and
  // WGPEER_F_UPDATE_ONLY, so that it never creates the peer an update-only first part left alone.
  bool peer_head(const PeerUpdate& p) {
    if (!mnl_attr_put_check(nlh_, limit_, WGPEER_A_PUBLIC_KEY, key_size, p.public_key.bytes().data())) return false;
    if (p.remove) return mnl_attr_put_u32_check(nlh_, limit_, WGPEER_A_FLAGS, WGPEER_F_REMOVE_ME);
    std::uint32_t flags = p.update_only ? WGPEER_F_UPDATE_ONLY : 0;
    if (p.allowed_ips && !continuing_) flags |= WGPEER_F_REPLACE_ALLOWEDIPS;
    if (flags != 0 && !mnl_attr_put_u32_check(nlh_, limit_, WGPEER_A_FLAGS, flags)) return false;
    if (continuing_) return true;
    if (p.endpoint) {
      sockaddr_storage ss{};
      const std::size_t len = p.endpoint->to_sockaddr(ss);
      if (!mnl_attr_put_check(nlh_, limit_, WGPEER_A_ENDPOINT, len, &ss)) return false;
    }
    if (p.persistent_keepalive &&
        !mnl_attr_put_u16_check(nlh_, limit_, WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, *p.persistent_keepalive)) {
      return false;
    }
    return true;
  }

  // The allowed IPs from ip_ on; false when cut, with ip_ at the first one left out. The peer's head
  // is in the message by then, so a cut here still makes progress: the next part starts with REPLACE
  // already sent.
  bool allowed_ips(const PeerUpdate& p) {
    if (p.remove || !p.allowed_ips) return true;
    nlattr* list = mnl_attr_nest_start_check(nlh_, limit_, WGPEER_A_ALLOWEDIPS);
    if (list == nullptr) return false;
    std::uint16_t at = 0;
    for (; ip_ < p.allowed_ips->size(); ++ip_) {
      const Prefix& a = (*p.allowed_ips)[ip_];
      nlattr* entry = mnl_attr_nest_start_check(nlh_, limit_, at++);
      if (entry == nullptr) break;
      if (!mnl_attr_put_u16_check(nlh_, limit_, WGALLOWEDIP_A_FAMILY, a.address().is_v4() ? AF_INET : AF_INET6) ||
          !mnl_attr_put_check(nlh_, limit_, WGALLOWEDIP_A_IPADDR, a.address().size(), a.address().data()) ||
          !mnl_attr_put_u8_check(nlh_, limit_, WGALLOWEDIP_A_CIDR_MASK, a.length())) {
        mnl_attr_nest_cancel(nlh_, entry);
        break;
      }
      mnl_attr_nest_end(nlh_, entry);
    }
    mnl_attr_nest_end(nlh_, list);
    return ip_ == p.allowed_ips->size();
  }

  std::uint16_t family_id_;
  std::uint32_t seq_;
  const DeviceUpdate& update_;
  std::size_t limit_;
  std::vector<std::uint32_t> buf_;
  nlmsghdr* nlh_{};
  std::size_t peer_{};      // the peer the next message starts with
  std::size_t ip_{};        // its first allowed IP not yet sent, when continuing_
  bool continuing_{};       // its head (and REPLACE) went in an earlier message
  std::vector<std::vector<std::byte>> out_;
};

}  // namespace

std::vector<std::vector<std::byte>> build_set_device(std::uint16_t family_id, std::uint32_t first_seq, const DeviceUpdate& update,
                                                     std::size_t limit) {
  // The name goes in every message: one longer than the kernel's IFNAMSIZ could not fit the buffer.
  if (update.name.empty() || update.name.size() >= IFNAMSIZ) {
    throw Error(std::errc::invalid_argument, "netlink: set device: not a device name: '" + update.name + "'");
  }
  return SetDeviceWriter(family_id, first_seq, update, limit).write();
}

}  // namespace wgsd::wg
