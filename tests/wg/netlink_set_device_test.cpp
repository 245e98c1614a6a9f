// WG_CMD_SET_DEVICE for updates too large for one message: every message fits, every nest length is
// exact, and the parts add up to the update (read back by a strict decoder and by the dump parser).
#include <catch2/catch.hpp>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/wireguard.h>
#include <netinet/in.h>

#include <array>
#include <cstring>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "support/keys.hpp"
#include "support/netlink_dump.hpp"
#include "wg/netlink_codec.hpp"

using namespace wgsd;
using wgsd::test::family;
using wgsd::test::key_n;

namespace {

// One peer nest of one message, as decoded.
struct PeerPart {
  wg::Key key;
  std::optional<std::uint32_t> flags;
  std::optional<wg::Endpoint> endpoint;
  std::optional<std::uint16_t> keepalive;
  bool has_allowed_list{};
  std::vector<wg::Prefix> allowed;
};

struct Message {
  std::uint32_t seq{};
  std::string ifname;
  std::vector<PeerPart> peers;
};

// Walks [begin, end) attribute by attribute and fails unless the attributes fill it exactly: a nest
// whose length was cut modulo 2^16 leaves bytes over (or runs past its end) and is caught here.
template <typename F>
void strict_walk(const char* begin, const char* end, const char* what, F&& f) {
  const char* at = begin;
  while (at < end) {
    INFO(what << " at offset " << (at - begin));
    REQUIRE(end - at >= static_cast<std::ptrdiff_t>(sizeof(nlattr)));
    const auto* attr = reinterpret_cast<const nlattr*>(at);
    REQUIRE(attr->nla_len >= sizeof(nlattr));
    REQUIRE(at + attr->nla_len <= end);
    f(attr);
    at += MNL_ALIGN(attr->nla_len);
  }
  REQUIRE(at == end);
}

template <typename F>
void strict_nested(const nlattr* nest, const char* what, F&& f) {
  const auto* begin = static_cast<const char*>(mnl_attr_get_payload(nest));
  strict_walk(begin, begin + mnl_attr_get_payload_len(nest), what, f);
}

Message decode(const std::vector<std::byte>& bytes) {
  std::vector<std::uint32_t> buf((bytes.size() + 3) / 4);
  std::memcpy(buf.data(), bytes.data(), bytes.size());
  const auto* nlh = reinterpret_cast<const nlmsghdr*>(buf.data());
  REQUIRE(nlh->nlmsg_len == bytes.size());
  CHECK(nlh->nlmsg_type == family);
  CHECK(nlh->nlmsg_flags == (NLM_F_REQUEST | NLM_F_ACK));
  CHECK(static_cast<const genlmsghdr*>(mnl_nlmsg_get_payload(nlh))->cmd == WG_CMD_SET_DEVICE);
  Message m;
  m.seq = nlh->nlmsg_seq;
  const auto* begin = static_cast<const char*>(mnl_nlmsg_get_payload_offset(nlh, sizeof(genlmsghdr)));
  strict_walk(begin, static_cast<const char*>(mnl_nlmsg_get_payload_tail(nlh)), "device attributes", [&](const nlattr* attr) {
    if (mnl_attr_get_type(attr) == WGDEVICE_A_IFNAME) m.ifname = mnl_attr_get_str(attr);
    if (mnl_attr_get_type(attr) != WGDEVICE_A_PEERS) return;
    strict_nested(attr, "peer list", [&](const nlattr* peer) {
      PeerPart& part = m.peers.emplace_back();
      strict_nested(peer, "peer", [&](const nlattr* a) {
        switch (mnl_attr_get_type(a)) {
          case WGPEER_A_PUBLIC_KEY: {
            std::array<std::uint8_t, wg::key_size> k{};
            REQUIRE(mnl_attr_get_payload_len(a) == k.size());
            std::memcpy(k.data(), mnl_attr_get_payload(a), k.size());
            part.key = wg::Key(k);
            break;
          }
          case WGPEER_A_FLAGS: part.flags = mnl_attr_get_u32(a); break;
          case WGPEER_A_ENDPOINT:
            part.endpoint = wg::Endpoint::from_sockaddr(static_cast<const sockaddr*>(mnl_attr_get_payload(a)), mnl_attr_get_payload_len(a));
            break;
          case WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL: part.keepalive = mnl_attr_get_u16(a); break;
          case WGPEER_A_ALLOWEDIPS:
            part.has_allowed_list = true;
            strict_nested(a, "allowed IP list", [&](const nlattr* entry) {
              std::uint16_t fam = 0;
              std::uint8_t mask = 0;
              std::array<std::uint8_t, 16> addr{};
              strict_nested(entry, "allowed IP", [&](const nlattr* f) {
                if (mnl_attr_get_type(f) == WGALLOWEDIP_A_FAMILY) fam = mnl_attr_get_u16(f);
                if (mnl_attr_get_type(f) == WGALLOWEDIP_A_CIDR_MASK) mask = mnl_attr_get_u8(f);
                if (mnl_attr_get_type(f) == WGALLOWEDIP_A_IPADDR) std::memcpy(addr.data(), mnl_attr_get_payload(f), mnl_attr_get_payload_len(f));
              });
              REQUIRE((fam == AF_INET || fam == AF_INET6));
              const auto ip = fam == AF_INET ? wg::IpAddress::v4({addr[0], addr[1], addr[2], addr[3]}) : wg::IpAddress::v6(addr);
              part.allowed.emplace_back(ip, mask);
            });
            break;
          default: FAIL("unexpected peer attribute " << mnl_attr_get_type(a));
        }
      });
    });
  });
  return m;
}

// n distinct allowed IPs, IPv6 and IPv4 in turn.
std::vector<wg::Prefix> many_ips(unsigned n, unsigned salt) {
  std::vector<wg::Prefix> out;
  for (unsigned i = 0; i < n; ++i) {
    if (i % 2 == 0) {
      std::array<std::uint8_t, 16> a{0xfd, 0x00, static_cast<std::uint8_t>(salt >> 8), static_cast<std::uint8_t>(salt)};
      a[14] = static_cast<std::uint8_t>(i >> 8);
      a[15] = static_cast<std::uint8_t>(i);
      out.emplace_back(wg::IpAddress::v6(a), 128);
    } else {
      out.emplace_back(wg::IpAddress::v4({10, static_cast<std::uint8_t>(salt), static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i)}), 32);
    }
  }
  return out;
}

std::vector<std::byte> concat(const std::vector<std::vector<std::byte>>& messages) {
  std::vector<std::byte> all;
  for (const auto& m : messages) all.insert(all.end(), m.begin(), m.end());
  return all;
}

// Decodes every message, checks what each must hold, and merges the parts of each peer.
struct Decoded {
  std::vector<Message> messages;
  std::vector<PeerPart> peers;                           // merged, in order
  std::map<std::string, std::vector<std::optional<std::uint32_t>>> flags;  // per key: each part's flags
};

Decoded decode_all(const std::vector<std::vector<std::byte>>& messages, std::uint32_t first_seq, std::size_t limit) {
  Decoded d;
  for (std::size_t i = 0; i < messages.size(); ++i) {
    INFO("message " << i + 1 << " of " << messages.size());
    CHECK(messages[i].size() <= limit);
    Message m = decode(messages[i]);
    CHECK_FALSE(m.peers.empty());  // never an empty peer list
    CHECK(m.seq == first_seq + i);
    CHECK(m.ifname == "wg0");
    for (auto& part : m.peers) {
      d.flags[part.key.to_base64()].push_back(part.flags);
      if (!d.peers.empty() && d.peers.back().key == part.key) {
        // A continued part: key, flags and allowed IPs only.
        CHECK_FALSE(part.endpoint);
        CHECK_FALSE(part.keepalive);
        d.peers.back().allowed.insert(d.peers.back().allowed.end(), part.allowed.begin(), part.allowed.end());
      } else {
        d.peers.push_back(part);
      }
    }
    d.messages.push_back(std::move(m));
  }
  return d;
}

}  // namespace

TEST_CASE("build_set_device splits a peer with 10,000 allowed IPs into messages that fit, REPLACE on the first part only",
          "[wg][netlink]") {
  const bool update_only = GENERATE(false, true);
  INFO("update_only " << update_only);
  wg::PeerUpdate add{key_n(5), update_only, wg::Endpoint::parse("192.0.2.1:51820")};
  add.allowed_ips = many_ips(10'000, 1);
  add.persistent_keepalive = 25;
  const wg::DeviceUpdate update{"wg0", {add}};

  const auto messages = wg::build_set_device(family, 1000, update);
  // 28 bytes an IPv4 allowed IP, 40 an IPv6 one: 340 KB, far over the 64 KiB a nest length can say.
  CHECK(messages.size() >= 40);
  const Decoded d = decode_all(messages, 1000, wg::set_device_message_limit);
  for (const auto& m : d.messages) {
    REQUIRE(m.peers.size() == 1);
    CHECK(m.peers[0].has_allowed_list);
    CHECK_FALSE(m.peers[0].allowed.empty());
  }
  const std::uint32_t only = update_only ? WGPEER_F_UPDATE_ONLY : 0;
  const auto& flags = d.flags.at(key_n(5).to_base64());
  REQUIRE(flags.size() == messages.size());
  CHECK(flags.front() == (only | WGPEER_F_REPLACE_ALLOWEDIPS));
  for (std::size_t i = 1; i < flags.size(); ++i) {
    INFO("part " << i + 1);
    // A later part never replaces what the earlier ones set, and never creates an update-only peer.
    CHECK(flags[i] == (update_only ? std::optional<std::uint32_t>(WGPEER_F_UPDATE_ONLY) : std::nullopt));
  }
  REQUIRE(d.peers.size() == 1);
  CHECK(d.peers[0].endpoint->to_string() == "192.0.2.1:51820");
  CHECK(d.peers[0].keepalive == 25);
  CHECK(d.peers[0].allowed == *add.allowed_ips);

  // The dump parser merges a peer continued over messages the same way.
  const wg::Device dev = wg::parse_device_messages(concat(messages), "wg0");
  REQUIRE(dev.peers.size() == 1);
  CHECK(dev.peers[0].public_key == key_n(5));
  CHECK(dev.peers[0].allowed_ips == *add.allowed_ips);
}

TEST_CASE("build_set_device splits 200 peers with many allowed IPs each, and every peer reads back whole", "[wg][netlink]") {
  std::vector<wg::PeerUpdate> peers;
  for (unsigned n = 0; n < 200; ++n) {
    const std::string port = std::to_string(41000 + n);
    wg::PeerUpdate p{key_n(100 + n), n % 3 == 0,
                     wg::Endpoint::parse(n % 2 == 0 ? "198.51.100." + std::to_string(n % 250 + 1) + ":" + port : "[2001:db8::" + std::to_string(n + 1) + "]:" + port)};
    if (n % 7 == 3) {
      p.remove = true;  // removals ride in the same messages
    } else if (n % 5 != 4) {
      p.allowed_ips = many_ips(40 + n % 90, n);
      p.persistent_keepalive = static_cast<std::uint16_t>(n);
    }
    peers.push_back(std::move(p));
  }
  const wg::DeviceUpdate update{"wg0", peers};
  // A small limit as well: the cut lands in every place a peer can be cut.
  for (const std::size_t limit : {wg::set_device_message_limit, std::size_t{512}, std::size_t{300}}) {
    INFO("limit " << limit);
    const auto messages = wg::build_set_device(family, 1, update, limit);
    CHECK(messages.size() > 1);
    const Decoded d = decode_all(messages, 1, limit);
    REQUIRE(d.peers.size() == peers.size());
    for (std::size_t i = 0; i < peers.size(); ++i) {
      INFO("peer " << i);
      const auto& want = peers[i];
      const auto& got = d.peers[i];
      CHECK(got.key == want.public_key);
      const auto& flags = d.flags.at(want.public_key.to_base64());
      if (want.remove) {
        CHECK(flags == std::vector<std::optional<std::uint32_t>>{WGPEER_F_REMOVE_ME});
        CHECK_FALSE(got.endpoint);
        CHECK_FALSE(got.has_allowed_list);
        continue;
      }
      CHECK(got.endpoint == want.endpoint);
      CHECK(got.keepalive == want.persistent_keepalive);
      const std::uint32_t only = want.update_only ? WGPEER_F_UPDATE_ONLY : 0;
      if (!want.allowed_ips) {
        CHECK(flags.size() == 1);
        CHECK(flags[0] == (only != 0 ? std::optional<std::uint32_t>(only) : std::nullopt));
        CHECK_FALSE(got.has_allowed_list);
        continue;
      }
      CHECK(flags[0] == (only | WGPEER_F_REPLACE_ALLOWEDIPS));
      for (std::size_t k = 1; k < flags.size(); ++k) CHECK(flags[k] == (only != 0 ? std::optional<std::uint32_t>(only) : std::nullopt));
      CHECK(got.allowed == *want.allowed_ips);
    }
  }
}

TEST_CASE("build_set_device keeps a small update in one message, and an empty allowed-IP list still replaces", "[wg][netlink]") {
  wg::PeerUpdate clear{key_n(5), true, std::nullopt};
  clear.allowed_ips = std::vector<wg::Prefix>{};
  const auto messages = wg::build_set_device(family, 9, {"wg0", {clear}});
  REQUIRE(messages.size() == 1);
  const Message m = decode(messages[0]);
  REQUIRE(m.peers.size() == 1);
  CHECK(m.peers[0].flags == (WGPEER_F_UPDATE_ONLY | WGPEER_F_REPLACE_ALLOWEDIPS));
  CHECK(m.peers[0].has_allowed_list);
  CHECK(m.peers[0].allowed.empty());
}

TEST_CASE("build_set_device keeps every message within 16-bit lengths whatever limit it is given, and refuses what cannot fit",
          "[wg][netlink]") {
  wg::PeerUpdate big{key_n(7), false, std::nullopt};
  big.allowed_ips = many_ips(10000, 3);
  // A limit over what a netlink length holds is brought down to it, and to a multiple of 4.
  for (const std::size_t limit : {std::size_t{1} << 20, std::size_t{301}}) {
    INFO("limit " << limit);
    const auto messages = wg::build_set_device(family, 1, {"wg0", {big}}, limit);
    CHECK(messages.size() > 1);
    for (const auto& m : messages) CHECK(m.size() <= std::min<std::size_t>(limit & ~std::size_t{3}, 65532));
    const Decoded d = decode_all(messages, 1, 65532);
    REQUIRE(d.peers.size() == 1);
    CHECK(d.peers[0].allowed == *big.allowed_ips);
  }
  // A name the kernel cannot have: refused before a byte is written.
  CHECK_THROWS_WITH(wg::build_set_device(family, 1, {std::string(40, 'w'), {big}}, 256),
                    Catch::Matchers::Contains("not a device name"));
}
