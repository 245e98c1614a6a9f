#include "wg/netlink_codec.hpp"

#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/wireguard.h>
#include <net/if.h>
#include <netinet/in.h>

#include <sodium.h>

#include <cstring>
#include <set>

#include "wg/error.hpp"

namespace wgsd::wg {
namespace {

// libmnl reads headers in place: give it a 4-byte-aligned copy of untrusted input.
std::vector<std::uint32_t> aligned_copy(std::span<const std::byte> data) {
  std::vector<std::uint32_t> buf((data.size() + 3) / 4);
  if (!data.empty()) std::memcpy(buf.data(), data.data(), data.size());
  return buf;
}

// libmnl's iteration macros do not compile as C++ (void* conversions): the same walk, typed.
// Calls f for each whole attribute in [begin, end) and returns where the walk stopped.
template <typename F>
const nlattr* for_each_attr(const void* begin, const void* end, F&& f) {
  const auto* attr = static_cast<const nlattr*>(begin);
  while (mnl_attr_ok(attr, static_cast<int>(static_cast<const char*>(end) - reinterpret_cast<const char*>(attr)))) {
    f(attr);
    attr = mnl_attr_next(attr);
  }
  return attr;
}

template <typename F>
const nlattr* for_each_nested(const nlattr* nest, F&& f) {
  const void* begin = mnl_attr_get_payload(nest);
  return for_each_attr(begin, static_cast<const char*>(begin) + mnl_attr_get_payload_len(nest), f);
}

class Parser {
public:
  explicit Parser(const std::string& device) : device_(device) { dev_.name = device; }

  [[noreturn]] void fail(const std::string& what) const {
    throw Error(std::errc::bad_message, "netlink: get device '" + device_ + "': " + what);
  }

  void message(const nlmsghdr* nlh) {
    if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + sizeof(genlmsghdr)) fail("message too short for a generic netlink header");
    const nlattr* stop = for_each_attr(mnl_nlmsg_get_payload_offset(nlh, sizeof(genlmsghdr)), mnl_nlmsg_get_payload_tail(nlh), [&](const nlattr* attr) {
      switch (mnl_attr_get_type(attr)) {
        case WGDEVICE_A_LISTEN_PORT: dev_.listen_port = u16(attr, "WGDEVICE_A_LISTEN_PORT"); break;
        case WGDEVICE_A_FWMARK: dev_.fwmark = u32(attr, "WGDEVICE_A_FWMARK"); break;
        case WGDEVICE_A_PUBLIC_KEY: dev_.public_key = key(attr, "WGDEVICE_A_PUBLIC_KEY"); break;
        case WGDEVICE_A_IFNAME: ifname(attr); break;
        case WGDEVICE_A_PEERS: peers(attr); break;
        default: break;  // WGDEVICE_A_PRIVATE_KEY (zeroed before the parse) and unknown attributes
      }
    });
    check_rest(stop, mnl_nlmsg_get_payload_tail(nlh), "device attribute");
  }

  Device take() { return std::move(dev_); }

private:
  // The attribute loops stop quietly at a cut attribute; a cut is an error here, padding is not.
  void check_rest(const nlattr* stop, const void* end, const char* what) const {
    const auto left = static_cast<const char*>(end) - reinterpret_cast<const char*>(stop);
    if (left >= static_cast<std::ptrdiff_t>(sizeof(nlattr))) fail(std::string("truncated ") + what);
  }
  void check_rest_nested(const nlattr* stop, const nlattr* nest, const char* what) const {
    check_rest(stop, reinterpret_cast<const char*>(mnl_attr_get_payload(nest)) + mnl_attr_get_payload_len(nest), what);
  }

  std::uint16_t u16(const nlattr* attr, const char* name) const {
    if (mnl_attr_get_payload_len(attr) != 2) fail(std::string(name) + ": wrong length " + std::to_string(mnl_attr_get_payload_len(attr)));
    return mnl_attr_get_u16(attr);
  }
  std::uint32_t u32(const nlattr* attr, const char* name) const {
    if (mnl_attr_get_payload_len(attr) != 4) fail(std::string(name) + ": wrong length " + std::to_string(mnl_attr_get_payload_len(attr)));
    return mnl_attr_get_u32(attr);
  }
  std::uint64_t u64(const nlattr* attr, const char* name) const {
    if (mnl_attr_get_payload_len(attr) != 8) fail(std::string(name) + ": wrong length " + std::to_string(mnl_attr_get_payload_len(attr)));
    std::uint64_t v = 0;
    std::memcpy(&v, mnl_attr_get_payload(attr), 8);
    return v;
  }
  Key key(const nlattr* attr, const char* name) const {
    if (mnl_attr_get_payload_len(attr) != key_size) fail(std::string(name) + ": wrong length " + std::to_string(mnl_attr_get_payload_len(attr)));
    std::array<std::uint8_t, key_size> bytes{};
    std::memcpy(bytes.data(), mnl_attr_get_payload(attr), key_size);
    return Key(bytes);
  }

  void ifname(const nlattr* attr) const {
    const auto len = mnl_attr_get_payload_len(attr);
    const char* s = static_cast<const char*>(mnl_attr_get_payload(attr));
    if (len == 0 || len > IFNAMSIZ || s[len - 1] != '\0') fail("WGDEVICE_A_IFNAME: not a NUL-terminated name");
    if (device_ != s) fail(std::string("reply is for device '") + s + "'");
  }

  void peers(const nlattr* nest) {
    const nlattr* stop = for_each_nested(nest, [&](const nlattr* attr) { peer(attr); });
    check_rest_nested(stop, nest, "peer list");
  }

  void peer(const nlattr* nest) {
    Peer p;
    bool has_key = false;
    std::optional<std::int64_t> sec;
    std::int64_t nsec = 0;
    const nlattr* stop = for_each_nested(nest, [&](const nlattr* attr) {
      switch (mnl_attr_get_type(attr)) {
        case WGPEER_A_PUBLIC_KEY: p.public_key = key(attr, "WGPEER_A_PUBLIC_KEY"); has_key = true; break;
        case WGPEER_A_PRESHARED_KEY: p.has_preshared_key = !key(attr, "WGPEER_A_PRESHARED_KEY").is_zero(); break;
        case WGPEER_A_ENDPOINT: p.endpoint = endpoint(attr); break;
        case WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL: p.persistent_keepalive = u16(attr, "WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL"); break;
        case WGPEER_A_LAST_HANDSHAKE_TIME: {
          // struct __kernel_timespec: two signed 64-bit fields.
          if (mnl_attr_get_payload_len(attr) != 16) fail("WGPEER_A_LAST_HANDSHAKE_TIME: wrong length " + std::to_string(mnl_attr_get_payload_len(attr)));
          std::int64_t ts[2];
          std::memcpy(ts, mnl_attr_get_payload(attr), sizeof ts);
          // Beyond 2^33 s the time no longer fits in nanoseconds as int64: corruption, not a date.
          if (ts[0] < 0 || ts[0] > (1LL << 33) || ts[1] < 0 || ts[1] >= 1'000'000'000) fail("WGPEER_A_LAST_HANDSHAKE_TIME: out of range");
          sec = ts[0];
          nsec = ts[1];
          break;
        }
        case WGPEER_A_RX_BYTES: p.rx_bytes = u64(attr, "WGPEER_A_RX_BYTES"); break;
        case WGPEER_A_TX_BYTES: p.tx_bytes = u64(attr, "WGPEER_A_TX_BYTES"); break;
        case WGPEER_A_ALLOWEDIPS: allowed_ips(attr, p); break;
        default: break;
      }
    });
    check_rest_nested(stop, nest, "peer attribute");
    if (!has_key) fail("peer without WGPEER_A_PUBLIC_KEY");
    if (sec && (*sec != 0 || nsec != 0)) {
      p.last_handshake = Clock::time_point(std::chrono::duration_cast<Clock::duration>(
          std::chrono::seconds(*sec) + std::chrono::nanoseconds(nsec)));
    }
    // The kernel continues a peer whose allowed IPs did not fit in the next message, repeating only
    // its public key: merge it into the previous one (wireguard-tools coalesce_peers).
    if (!dev_.peers.empty() && dev_.peers.back().public_key == p.public_key) {
      auto& prev = dev_.peers.back();
      prev.allowed_ips.insert(prev.allowed_ips.end(), p.allowed_ips.begin(), p.allowed_ips.end());
      return;
    }
    if (!seen_.insert(p.public_key).second) fail("duplicate peer " + p.public_key.to_base64());
    dev_.peers.push_back(std::move(p));
  }

  Endpoint endpoint(const nlattr* attr) const {
    const auto len = mnl_attr_get_payload_len(attr);
    auto ep = Endpoint::from_sockaddr(static_cast<const sockaddr*>(mnl_attr_get_payload(attr)), len);
    if (!ep || (len != sizeof(sockaddr_in) && len != sizeof(sockaddr_in6))) fail("WGPEER_A_ENDPOINT: not a sockaddr_in/sockaddr_in6 (length " + std::to_string(len) + ")");
    return *ep;
  }

  void allowed_ips(const nlattr* nest, Peer& p) const {
    const nlattr* stop_list = for_each_nested(nest, [&](const nlattr* entry) {
      std::optional<std::uint16_t> family;
      std::optional<std::uint8_t> cidr;
      std::array<std::uint8_t, 16> addr{};
      std::size_t addr_len = 0;
      const nlattr* stop = for_each_nested(entry, [&](const nlattr* attr) {
        switch (mnl_attr_get_type(attr)) {
          case WGALLOWEDIP_A_FAMILY: family = u16(attr, "WGALLOWEDIP_A_FAMILY"); break;
          case WGALLOWEDIP_A_CIDR_MASK:
            if (mnl_attr_get_payload_len(attr) != 1) fail("WGALLOWEDIP_A_CIDR_MASK: wrong length");
            cidr = mnl_attr_get_u8(attr);
            break;
          case WGALLOWEDIP_A_IPADDR:
            addr_len = mnl_attr_get_payload_len(attr);
            if (addr_len != 4 && addr_len != 16) fail("WGALLOWEDIP_A_IPADDR: wrong length " + std::to_string(addr_len));
            std::memcpy(addr.data(), mnl_attr_get_payload(attr), addr_len);
            break;
          default: break;
        }
      });
      check_rest_nested(stop, entry, "allowed IP attribute");
      if (!family || !cidr || addr_len == 0) fail("allowed IP missing family, address or mask");
      const bool v4 = *family == AF_INET;
      if ((v4 && addr_len != 4) || (!v4 && (*family != AF_INET6 || addr_len != 16)) || *cidr > addr_len * 8) {
        fail("allowed IP with inconsistent family " + std::to_string(*family) + ", length " + std::to_string(addr_len) + ", mask " + std::to_string(*cidr));
      }
      p.allowed_ips.emplace_back(v4 ? IpAddress::v4({addr[0], addr[1], addr[2], addr[3]}) : IpAddress::v6(addr), *cidr);
    });
    check_rest_nested(stop_list, nest, "allowed IP list");
  }

  const std::string& device_;
  Device dev_;
  std::set<Key> seen_;
};

std::vector<std::byte> finish(const nlmsghdr* nlh, const std::vector<std::uint32_t>& buf) {
  std::vector<std::byte> out(nlh->nlmsg_len);
  std::memcpy(out.data(), buf.data(), out.size());
  return out;
}

nlmsghdr* put_genl_header(std::vector<std::uint32_t>& buf, std::uint16_t type, std::uint16_t flags, std::uint32_t seq,
                          std::uint8_t cmd, std::uint8_t version) {
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
  nlh->nlmsg_type = type;
  nlh->nlmsg_flags = flags;
  nlh->nlmsg_seq = seq;
  auto* genl = static_cast<genlmsghdr*>(mnl_nlmsg_put_extra_header(nlh, sizeof(genlmsghdr)));
  genl->cmd = cmd;
  genl->version = version;
  return nlh;
}

}  // namespace

// mnl_nlmsg_ok compares nlmsg_len as a signed int, so a length over 2^31 passes it and sends
// mnl_nlmsg_next far outside the buffer. Check the length as the unsigned number it is.
bool message_ok(const nlmsghdr* nlh, int left) {
  return left >= static_cast<int>(sizeof(nlmsghdr)) && nlh->nlmsg_len >= sizeof(nlmsghdr) &&
         nlh->nlmsg_len <= static_cast<std::uint32_t>(left);
}

int error_code(int nlmsg_error) {
  // The kernel sends -errno (1..4095); anything else, INT_MIN included, is not an errno to negate.
  return nlmsg_error < 0 && nlmsg_error >= -4095 ? -nlmsg_error : EPROTO;
}

void wipe_private_key(nlmsghdr* nlh) {
  if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + sizeof(genlmsghdr)) return;
  auto* const begin = static_cast<char*>(mnl_nlmsg_get_payload_offset(nlh, sizeof(genlmsghdr)));
  auto* const end = static_cast<char*>(mnl_nlmsg_get_payload_tail(nlh));
  for_each_attr(begin, end, [](const nlattr* attr) {
    if (mnl_attr_get_type(attr) != WGDEVICE_A_PRIVATE_KEY) return;
    sodium_memzero(mnl_attr_get_payload(attr), mnl_attr_get_payload_len(attr));
  });
}

Device parse_device_messages(std::span<const std::byte> data, const std::string& device) {
  auto buf = aligned_copy(data);
  auto* nlh = reinterpret_cast<nlmsghdr*>(buf.data());
  int left = static_cast<int>(data.size());
  Parser parser(device);
  bool any = false;
  while (left > 0) {
    if (!message_ok(nlh, left)) parser.fail("truncated netlink message (" + std::to_string(left) + " bytes left)");
    if (nlh->nlmsg_type == NLMSG_DONE) break;
    if (nlh->nlmsg_type == NLMSG_ERROR) {
      if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + sizeof(nlmsgerr)) parser.fail("truncated NLMSG_ERROR");
      const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
      if (err->error == 0) {  // an ACK
        nlh = mnl_nlmsg_next(nlh, &left);
        continue;
      }
      const int code = error_code(err->error);
      if (code == ENODEV) throw Error(std::errc::no_such_device, "no such device '" + device + "'");
      throw Error(code, "netlink: get device '" + device + "'");
    }
    wipe_private_key(nlh);
    parser.message(nlh);
    any = true;
    nlh = mnl_nlmsg_next(nlh, &left);
  }
  if (!any) parser.fail("empty dump");
  return parser.take();
}

std::vector<std::byte> build_get_device(std::uint16_t family_id, std::uint32_t seq, const std::string& device) {
  std::vector<std::uint32_t> buf(MNL_SOCKET_BUFFER_SIZE / 4);
  nlmsghdr* nlh = put_genl_header(buf, family_id, NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP, seq, WG_CMD_GET_DEVICE, WG_GENL_VERSION);
  mnl_attr_put_strz(nlh, WGDEVICE_A_IFNAME, device.c_str());
  return finish(nlh, buf);
}

std::vector<std::byte> build_get_family(std::uint32_t seq) {
  std::vector<std::uint32_t> buf(MNL_SOCKET_BUFFER_SIZE / 4);
  nlmsghdr* nlh = put_genl_header(buf, GENL_ID_CTRL, NLM_F_REQUEST | NLM_F_ACK, seq, CTRL_CMD_GETFAMILY, 1);
  mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, WG_GENL_NAME);
  return finish(nlh, buf);
}

std::uint16_t parse_family_id(std::span<const std::byte> data) {
  auto buf = aligned_copy(data);
  const auto* nlh = reinterpret_cast<const nlmsghdr*>(buf.data());
  int left = static_cast<int>(data.size());
  for (; message_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
    if (nlh->nlmsg_type == NLMSG_ERROR && nlh->nlmsg_len >= MNL_NLMSG_HDRLEN + sizeof(nlmsgerr)) {
      const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
      if (err->error == 0) continue;
      const int code = error_code(err->error);
      if (code == ENOENT) {
        throw Error(std::errc::protocol_not_supported,
                    "netlink: generic netlink family 'wireguard' not found (the wireguard kernel module is not loaded)");
      }
      throw Error(code, "netlink: resolve family 'wireguard'");
    }
    if (nlh->nlmsg_type != GENL_ID_CTRL || nlh->nlmsg_len < MNL_NLMSG_HDRLEN + sizeof(genlmsghdr)) continue;
    std::optional<std::uint16_t> id;
    for_each_attr(mnl_nlmsg_get_payload_offset(nlh, sizeof(genlmsghdr)), mnl_nlmsg_get_payload_tail(nlh), [&](const nlattr* attr) {
      if (mnl_attr_get_type(attr) == CTRL_ATTR_FAMILY_ID && mnl_attr_get_payload_len(attr) == 2) id = mnl_attr_get_u16(attr);
    });
    if (id) return *id;
  }
  throw Error(std::errc::bad_message, "netlink: resolve family 'wireguard': no family id in reply");
}

}  // namespace wgsd::wg
