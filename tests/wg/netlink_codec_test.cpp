// The kernel's replies, built byte for byte with libmnl's own writers (no socket, no module needed).
#include <catch2/catch.hpp>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/rtnetlink.h>
#include <linux/wireguard.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <sodium.h>

#include "support/keys.hpp"
#include "support/netlink_dump.hpp"
#include "wg/error.hpp"
#include "wg/netlink_codec.hpp"
#include "wg/route.hpp"

using namespace wgsd;
using wgsd::test::Dump;
using wgsd::test::family;
using wgsd::test::key_n;

namespace {

template <typename F>
void each(const void* begin, const void* end, F&& f) {
  const auto* a = static_cast<const nlattr*>(begin);
  while (mnl_attr_ok(a, static_cast<int>(static_cast<const char*>(end) - reinterpret_cast<const char*>(a)))) {
    f(a);
    a = mnl_attr_next(a);
  }
}
template <typename F>
void each_nested(const nlattr* nest, F&& f) {
  const void* begin = mnl_attr_get_payload(nest);
  each(begin, static_cast<const char*>(begin) + mnl_attr_get_payload_len(nest), f);
}

std::string error_of(std::span<const std::byte> bytes) {
  try {
    wg::parse_device_messages(bytes, "wg0");
  } catch (const wg::Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("netlink dump with a peer split over two messages is merged", "[wg][netlink]") {
  Dump d;
  d.begin();
  nlattr* peers = d.peers();
  nlattr* p = d.peer(1, 0);
  d.endpoint("198.51.100.7:40001");
  mnl_attr_put_u16(d.nlh(), WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, 25);
  const std::int64_t ts[2] = {1700000000, 250000000};
  mnl_attr_put(d.nlh(), WGPEER_A_LAST_HANDSHAKE_TIME, sizeof ts, ts);
  const std::uint64_t rx = 1234;
  const std::uint64_t tx = 5678;
  mnl_attr_put(d.nlh(), WGPEER_A_RX_BYTES, 8, &rx);
  mnl_attr_put(d.nlh(), WGPEER_A_TX_BYTES, 8, &tx);
  mnl_attr_put_u32(d.nlh(), 99, 7);  // unknown peer attribute
  nlattr* ips = mnl_attr_nest_start(d.nlh(), WGPEER_A_ALLOWEDIPS);
  d.allowed("10.0.0.1/32");
  d.end(ips);
  d.end(p);
  d.end(peers);
  d.finish();
  // Second message: the kernel repeats only the peer's key with the rest of its allowed IPs.
  d.begin("wg0", false);
  peers = d.peers();
  p = d.peer(1, 0);
  ips = mnl_attr_nest_start(d.nlh(), WGPEER_A_ALLOWEDIPS);
  d.allowed("192.168.50.0/24");
  d.allowed("fd00::2/128");
  d.end(ips);
  d.end(p);
  p = d.peer(2, 1);
  d.endpoint("[2001:db8::7]:40002");
  d.end(p);
  d.end(peers);
  d.finish();
  d.done();

  const wg::Device dev = wg::parse_device_messages(d.bytes(), "wg0");
  CHECK(dev.listen_port == 51820);
  CHECK(dev.fwmark == 0x42);
  CHECK(dev.public_key == key_n(99));
  REQUIRE(dev.peers.size() == 2);
  const auto& p0 = dev.peers[0];
  CHECK(p0.public_key == key_n(1));
  CHECK(p0.endpoint->to_string() == "198.51.100.7:40001");
  CHECK(p0.persistent_keepalive == 25);
  CHECK(p0.last_handshake->time_since_epoch() == std::chrono::milliseconds(1700000000250LL));
  CHECK(p0.rx_bytes == 1234);
  CHECK(p0.tx_bytes == 5678);
  REQUIRE(p0.allowed_ips.size() == 3);
  CHECK(p0.allowed_ips[2].to_string() == "fd00::2/128");
  CHECK(dev.peers[1].endpoint->to_string() == "[2001:db8::7]:40002");
  CHECK_FALSE(dev.peers[1].last_handshake);
}

TEST_CASE("netlink dump errors are precise", "[wg][netlink]") {
  SECTION("ENODEV is no such device") {
    Dump d;
    d.error(ENODEV);
    try {
      wg::parse_device_messages(d.bytes(), "wg0");
      FAIL("no error");
    } catch (const wg::Error& e) {
      CHECK(e.no_such_device());
      CHECK_THAT(e.what(), Catch::Contains("no such device 'wg0'"));
    }
  }
  SECTION("other errors carry errno") {
    Dump d;
    d.error(EPERM);
    CHECK_THAT(error_of(d.bytes()), Catch::Contains("netlink: get device 'wg0': Operation not permitted"));
  }
  SECTION("truncated message") {
    Dump d;
    d.begin();
    d.finish();
    auto bytes = d.copy();
    bytes.resize(bytes.size() - 6);
    CHECK_THAT(error_of(bytes), Catch::Contains("truncated netlink message"));
  }
  SECTION("empty") { CHECK_THAT(error_of({}), Catch::Contains("empty dump")); }
  SECTION("wrong attribute length") {
    Dump d;
    d.begin();
    mnl_attr_put_u32(d.nlh(), WGDEVICE_A_LISTEN_PORT, 1);
    d.finish();
    CHECK_THAT(error_of(d.bytes()), Catch::Contains("WGDEVICE_A_LISTEN_PORT: wrong length 4"));
  }
  SECTION("short key") {
    Dump d;
    d.begin();
    nlattr* peers = d.peers();
    nlattr* p = mnl_attr_nest_start(d.nlh(), 0);
    mnl_attr_put(d.nlh(), WGPEER_A_PUBLIC_KEY, 31, key_n(1).bytes().data());
    d.end(p);
    d.end(peers);
    d.finish();
    CHECK_THAT(error_of(d.bytes()), Catch::Contains("WGPEER_A_PUBLIC_KEY: wrong length 31"));
  }
  SECTION("peer without key") {
    Dump d;
    d.begin();
    nlattr* peers = d.peers();
    nlattr* p = mnl_attr_nest_start(d.nlh(), 0);
    d.endpoint("192.0.2.1:1");
    d.end(p);
    d.end(peers);
    d.finish();
    CHECK_THAT(error_of(d.bytes()), Catch::Contains("peer without WGPEER_A_PUBLIC_KEY"));
  }
  SECTION("duplicated peer that is not adjacent") {
    Dump d;
    d.begin();
    nlattr* peers = d.peers();
    d.end(d.peer(1, 0));
    d.end(d.peer(2, 1));
    d.end(d.peer(1, 2));
    d.end(peers);
    d.finish();
    CHECK_THAT(error_of(d.bytes()), Catch::Contains("duplicate peer"));
  }
  SECTION("bad endpoint length") {
    Dump d;
    d.begin();
    nlattr* peers = d.peers();
    nlattr* p = d.peer(1, 0);
    const char junk[3] = {2, 0, 1};
    mnl_attr_put(d.nlh(), WGPEER_A_ENDPOINT, sizeof junk, junk);
    d.end(p);
    d.end(peers);
    d.finish();
    CHECK_THAT(error_of(d.bytes()), Catch::Contains("WGPEER_A_ENDPOINT: not a sockaddr_in/sockaddr_in6 (length 3)"));
  }
  SECTION("inconsistent allowed IP") {
    Dump d;
    d.begin();
    nlattr* peers = d.peers();
    nlattr* p = d.peer(1, 0);
    nlattr* ips = mnl_attr_nest_start(d.nlh(), WGPEER_A_ALLOWEDIPS);
    nlattr* a = mnl_attr_nest_start(d.nlh(), 0);
    mnl_attr_put_u16(d.nlh(), WGALLOWEDIP_A_FAMILY, AF_INET);
    const std::uint8_t addr[16] = {};
    mnl_attr_put(d.nlh(), WGALLOWEDIP_A_IPADDR, 16, addr);
    mnl_attr_put_u8(d.nlh(), WGALLOWEDIP_A_CIDR_MASK, 64);
    d.end(a);
    d.end(ips);
    d.end(p);
    d.end(peers);
    d.finish();
    CHECK_THAT(error_of(d.bytes()), Catch::Contains("allowed IP with inconsistent family 2, length 16, mask 64"));
  }
  SECTION("attribute cut inside a nest") {
    Dump d;
    d.begin();
    nlattr* peers = d.peers();
    nlattr* p = d.peer(1, 0);
    d.end(p);
    d.end(peers);
    // Shrink the peer nest so its key attribute no longer fits in it.
    p->nla_len = static_cast<std::uint16_t>(p->nla_len - 8);
    d.finish();
    CHECK_THAT(error_of(d.bytes()), Catch::Contains("truncated peer attribute"));
  }
  SECTION("reply for another device") {
    Dump d;
    d.begin("wg1");
    d.finish();
    CHECK_THAT(error_of(d.bytes()), Catch::Contains("reply is for device 'wg1'"));
  }
}

TEST_CASE("build_set_device carries key, update-only flag and endpoint only", "[wg][netlink]") {
  wg::DeviceUpdate update{"wg0", {{key_n(5), true, wg::Endpoint::parse("[2001:db8::9]:4242")}}};
  const auto messages = wg::build_set_device(family, 7, update);
  REQUIRE(messages.size() == 1);
  const auto& msg = messages[0];
  std::vector<std::uint32_t> buf((msg.size() + 3) / 4);
  std::memcpy(buf.data(), msg.data(), msg.size());
  const auto* nlh = reinterpret_cast<const nlmsghdr*>(buf.data());
  CHECK(nlh->nlmsg_type == family);
  CHECK(nlh->nlmsg_seq == 7);
  const auto* genl = static_cast<const genlmsghdr*>(mnl_nlmsg_get_payload(nlh));
  CHECK(genl->cmd == WG_CMD_SET_DEVICE);
  std::vector<int> device_attrs;
  std::vector<int> peer_attrs;
  each(mnl_nlmsg_get_payload_offset(nlh, sizeof(genlmsghdr)), mnl_nlmsg_get_payload_tail(nlh), [&](const nlattr* attr) {
    device_attrs.push_back(mnl_attr_get_type(attr));
    if (mnl_attr_get_type(attr) == WGDEVICE_A_IFNAME) CHECK(std::string(mnl_attr_get_str(attr)) == "wg0");
    if (mnl_attr_get_type(attr) != WGDEVICE_A_PEERS) return;
    each_nested(attr, [&](const nlattr* peer) {
      each_nested(peer, [&](const nlattr* a) {
        peer_attrs.push_back(mnl_attr_get_type(a));
        if (mnl_attr_get_type(a) == WGPEER_A_FLAGS) CHECK(mnl_attr_get_u32(a) == WGPEER_F_UPDATE_ONLY);
        if (mnl_attr_get_type(a) == WGPEER_A_ENDPOINT) {
          auto ep = wg::Endpoint::from_sockaddr(static_cast<const sockaddr*>(mnl_attr_get_payload(a)), mnl_attr_get_payload_len(a));
          CHECK(ep->to_string() == "[2001:db8::9]:4242");
        }
      });
    });
  });
  CHECK(device_attrs == std::vector<int>{WGDEVICE_A_IFNAME, WGDEVICE_A_PEERS});
  CHECK(peer_attrs == std::vector<int>{WGPEER_A_PUBLIC_KEY, WGPEER_A_FLAGS, WGPEER_A_ENDPOINT});
}

TEST_CASE("build_set_device creates a peer with replaced allowed IPs and keepalive, and removes one by flag alone", "[wg][netlink]") {
  wg::PeerUpdate add{key_n(5), false, wg::Endpoint::parse("192.0.2.1:1")};
  add.allowed_ips = std::vector<wg::Prefix>{*wg::Prefix::parse("10.0.0.2/32"), *wg::Prefix::parse("fd00::/64")};
  add.persistent_keepalive = 25;
  wg::PeerUpdate gone{key_n(6), true, wg::Endpoint::parse("192.0.2.2:2")};
  gone.remove = true;
  const auto messages = wg::build_set_device(family, 7, {"wg0", {add, gone}});
  REQUIRE(messages.size() == 1);
  const auto& msg = messages[0];
  std::vector<std::uint32_t> buf((msg.size() + 3) / 4);
  std::memcpy(buf.data(), msg.data(), msg.size());
  const auto* nlh = reinterpret_cast<const nlmsghdr*>(buf.data());
  std::vector<std::vector<int>> attrs;
  std::vector<std::uint32_t> flags;
  std::vector<std::string> allowed;
  std::uint16_t keepalive = 0;
  each(mnl_nlmsg_get_payload_offset(nlh, sizeof(genlmsghdr)), mnl_nlmsg_get_payload_tail(nlh), [&](const nlattr* attr) {
    if (mnl_attr_get_type(attr) != WGDEVICE_A_PEERS) return;
    each_nested(attr, [&](const nlattr* peer) {
      attrs.emplace_back();
      each_nested(peer, [&](const nlattr* a) {
        attrs.back().push_back(mnl_attr_get_type(a));
        if (mnl_attr_get_type(a) == WGPEER_A_FLAGS) flags.push_back(mnl_attr_get_u32(a));
        if (mnl_attr_get_type(a) == WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL) keepalive = mnl_attr_get_u16(a);
        if (mnl_attr_get_type(a) != WGPEER_A_ALLOWEDIPS) return;
        each_nested(a, [&](const nlattr* entry) {
          std::uint16_t fam = 0;
          std::uint8_t mask = 0;
          std::array<std::uint8_t, 16> addr{};
          each_nested(entry, [&](const nlattr* f) {
            if (mnl_attr_get_type(f) == WGALLOWEDIP_A_FAMILY) fam = mnl_attr_get_u16(f);
            if (mnl_attr_get_type(f) == WGALLOWEDIP_A_CIDR_MASK) mask = mnl_attr_get_u8(f);
            if (mnl_attr_get_type(f) == WGALLOWEDIP_A_IPADDR) std::memcpy(addr.data(), mnl_attr_get_payload(f), mnl_attr_get_payload_len(f));
          });
          const auto ip = fam == AF_INET ? wg::IpAddress::v4({addr[0], addr[1], addr[2], addr[3]}) : wg::IpAddress::v6(addr);
          allowed.push_back(wg::Prefix(ip, mask).to_string());
        });
      });
    });
  });
  REQUIRE(attrs.size() == 2);
  CHECK(attrs[0] == std::vector<int>{WGPEER_A_PUBLIC_KEY, WGPEER_A_FLAGS, WGPEER_A_ENDPOINT, WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, WGPEER_A_ALLOWEDIPS});
  CHECK(attrs[1] == std::vector<int>{WGPEER_A_PUBLIC_KEY, WGPEER_A_FLAGS});
  CHECK(flags == std::vector<std::uint32_t>{WGPEER_F_REPLACE_ALLOWEDIPS, WGPEER_F_REMOVE_ME});
  CHECK(keepalive == 25);
  CHECK(allowed == std::vector<std::string>{"10.0.0.2/32", "fd00::/64"});
}

TEST_CASE("family resolution reports a missing wireguard module", "[wg][netlink]") {
  Dump d;
  d.error(ENOENT);
  CHECK_THROWS_WITH(wg::parse_family_id(d.bytes()), Catch::Contains("the wireguard kernel module is not loaded"));
}

TEST_CASE("regression: a message length over 2^31 does not send the walk outside the buffer", "[wg][netlink][regression]") {
  // Found by fuzz_netlink: mnl_nlmsg_ok reads nlmsg_len as a signed int.
  Dump d;
  d.begin();
  d.finish();
  auto bytes = d.copy();
  bytes.resize(bytes.size() + 20);
  const std::uint32_t huge = 0x80000010;
  std::memcpy(bytes.data() + d.bytes().size(), &huge, 4);
  CHECK_THAT(error_of(bytes), Catch::Contains("truncated netlink message"));
  CHECK_THROWS_AS(wg::parse_family_id(bytes), wg::Error);
  // The input the fuzzer found, verbatim.
  const std::string b64 = "VQAAABsAAgABAAAAkhAAAAABAAAIAAEABwAAAAgAAgB3ZzAAJAAEAAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4fBgAGAGzKAAAIAAcAAAAAAAQACIAUAAAAAwACAAEAAACSEAAAAAAAAA==";
  std::vector<std::byte> found(b64.size());
  std::size_t len = 0;
  REQUIRE(sodium_base642bin(reinterpret_cast<unsigned char*>(found.data()), found.size(), b64.data(), b64.size(), nullptr, &len, nullptr,
                            sodium_base64_VARIANT_ORIGINAL) == 0);
  found.resize(len);
  CHECK_THROWS_AS(wg::parse_device_messages(found, "wg0"), wg::Error);
  CHECK_THROWS_AS(wg::parse_family_id(found), wg::Error);
}

TEST_CASE("regression: an NLMSG_ERROR of INT_MIN is not negated", "[wg][netlink][regression]") {
  // Found by fuzz_netlink: -INT_MIN overflowed. Any value that is not -errno reads as EPROTO.
  Dump d;
  d.error(0);
  auto bytes = d.copy();
  const std::int32_t int_min = INT32_MIN;
  std::memcpy(bytes.data() + 16, &int_min, 4);
  CHECK_THAT(error_of(bytes), Catch::Contains("netlink: get device 'wg0': Protocol error"));
  CHECK_THROWS_WITH(wg::parse_family_id(bytes), Catch::Contains("Protocol error"));
  CHECK(wg::error_code(-19) == 19);
  CHECK(wg::error_code(5) == EPROTO);
}

TEST_CASE("the netlink codec skips the device's private key and zeroes it where it lies", "[wg][netlink]") {
  std::array<std::uint8_t, 32> secret{};
  for (std::size_t i = 0; i < secret.size(); ++i) secret[i] = static_cast<std::uint8_t>(0xa0 + i);
  const auto secret_bytes = std::as_bytes(std::span(secret));
  auto contains = [](std::span<const std::byte> hay, std::span<const std::byte> needle) {
    return std::search(hay.begin(), hay.end(), needle.begin(), needle.end()) != hay.end();
  };
  Dump plain;
  plain.begin();
  plain.finish();
  Dump d;
  d.begin();
  mnl_attr_put(d.nlh(), WGDEVICE_A_PRIVATE_KEY, secret.size(), secret.data());
  d.finish();
  d.done();
  REQUIRE(contains(d.bytes(), secret_bytes));
  // Read as if it were not there.
  const auto dev = wg::parse_device_messages(d.bytes(), "wg0");
  CHECK(dev == wg::parse_device_messages(plain.bytes(), "wg0"));
  // Zeroed in place, and the message still parses the same.
  auto bytes = d.copy();
  std::vector<std::uint32_t> aligned((bytes.size() + 3) / 4);
  std::memcpy(aligned.data(), bytes.data(), bytes.size());
  wg::wipe_private_key(reinterpret_cast<nlmsghdr*>(aligned.data()));
  const std::span<const std::byte> wiped(reinterpret_cast<const std::byte*>(aligned.data()), bytes.size());
  CHECK_FALSE(contains(wiped, secret_bytes));
  CHECK(wg::parse_device_messages(wiped, "wg0") == dev);
  // Nothing else was touched: the public key is where it was.
  CHECK(contains(wiped, std::as_bytes(std::span(key_n(99).bytes()))));
}

TEST_CASE("build_route_request: an exclusive RTM_NEWROUTE (never replacing) or an RTM_DELROUTE of PREFIX dev IFINDEX, tagged as wgsd's", "[wg][netlink][route]") {
  for (const bool add : {true, false}) {
    const auto msg = wg::build_route_request(add, 7, *wg::Prefix::parse("fd08::/64"), 3);
    std::vector<std::uint32_t> buf((msg.size() + 3) / 4);
    std::memcpy(buf.data(), msg.data(), msg.size());
    const auto* nlh = reinterpret_cast<const nlmsghdr*>(buf.data());
    CHECK(nlh->nlmsg_type == (add ? RTM_NEWROUTE : RTM_DELROUTE));
    CHECK(nlh->nlmsg_flags == (add ? NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL : NLM_F_REQUEST | NLM_F_ACK));
    const auto* rtm = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(nlh));
    CHECK(rtm->rtm_family == AF_INET6);
    CHECK(rtm->rtm_dst_len == 64);
    CHECK(rtm->rtm_table == RT_TABLE_MAIN);
    CHECK(rtm->rtm_protocol == wg::route_protocol);
    std::string dst;
    std::uint32_t oif = 0;
    each(mnl_nlmsg_get_payload_offset(nlh, sizeof(rtmsg)), mnl_nlmsg_get_payload_tail(nlh), [&](const nlattr* attr) {
      if (mnl_attr_get_type(attr) == RTA_DST) {
        std::array<std::uint8_t, 16> a{};
        std::memcpy(a.data(), mnl_attr_get_payload(attr), 16);
        dst = wg::IpAddress::v6(a).to_string();
      }
      if (mnl_attr_get_type(attr) == RTA_OIF) oif = mnl_attr_get_u32(attr);
    });
    CHECK(dst == "fd08::");
    CHECK(oif == 7);
  }
}
