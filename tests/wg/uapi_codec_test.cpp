#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "wg/error.hpp"
#include "wg/uapi_codec.hpp"

using namespace wgsd::wg;

namespace {

std::string read_data(const std::string& name) {
  std::ifstream in(std::string(WGSD_SOURCE_DIR) + "/tests/data/" + name);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string error_of(const std::string& text) {
  try {
    parse_uapi_get(text, "wg0");
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

std::string streamed_error_of(const std::string& text, std::size_t piece) {
  try {
    UapiGetParser parser("wg0");
    for (std::size_t at = 0; at < text.size(); at += piece) parser.feed(std::string_view(text).substr(at, piece));
    parser.finish();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("parse_uapi_get reads every field of a cross-platform UAPI reply", "[wg][uapi]") {
  const Device dev = parse_uapi_get(read_data("uapi_get_three_peers.txt"), "wg0");
  CHECK(dev.name == "wg0");
  CHECK(dev.listen_port == 51820);
  CHECK(dev.fwmark == 0);
  SecretKey secret;
  REQUIRE(secret.assign_hex("e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a"));
  CHECK(dev.public_key == secret.public_key());
  REQUIRE(dev.peers.size() == 3);
  const Peer& p0 = dev.peers[0];
  CHECK(p0.public_key == *Key::from_hex("b85996fecc9c7f1fc6d2572a76eda11d59bcb20be8e543b15ce4bd85a8e75a33"));
  CHECK(p0.endpoint->to_string() == "198.51.100.7:40001");
  CHECK(p0.last_handshake->time_since_epoch() == std::chrono::milliseconds(1700000000500LL));
  CHECK(p0.tx_bytes == 38333);
  CHECK(p0.rx_bytes == 2224);
  CHECK(p0.persistent_keepalive == 25);
  CHECK_FALSE(p0.has_preshared_key);
  REQUIRE(p0.allowed_ips.size() == 2);
  CHECK(p0.allowed_ips[1].to_string() == "192.168.50.0/24");
  const Peer& p1 = dev.peers[1];
  CHECK(p1.endpoint->to_string() == "[2001:db8::7]:40002");
  CHECK_FALSE(p1.last_handshake);
  CHECK(p1.has_preshared_key);
  CHECK(p1.allowed_ips[1].to_string() == "fd00::2/128");
  CHECK_FALSE(dev.peers[2].endpoint);
}

TEST_CASE("parse_uapi_get derives the device public key and keeps no private key", "[wg][uapi]") {
  // wg genkey: 0x08 * 32 clamped is still a valid scalar; its public key computed by libsodium.
  const std::string reply = "private_key=" + std::string(64, '0') + "\nlisten_port=1\nerrno=0\n\n";
  CHECK(parse_uapi_get(reply, "wg0").public_key.is_zero());
  const std::string reply2 = "private_key=0800000000000000000000000000000000000000000000000000000000000040\nerrno=0\n\n";
  CHECK_FALSE(parse_uapi_get(reply2, "wg0").public_key.is_zero());
}

TEST_CASE("parse_uapi_get skips unknown keys", "[wg][uapi]") {
  const std::string reply =
      "listen_port=5\nsome_future_key=1\npublic_key=" + std::string(64, 'a') + "\nfuture_peer_key=x\nallowed_ip=10.0.0.1/32\nerrno=0\n\n";
  const Device dev = parse_uapi_get(reply, "wg0");
  CHECK(dev.listen_port == 5);
  REQUIRE(dev.peers.size() == 1);
  CHECK(dev.peers[0].allowed_ips.size() == 1);
}

TEST_CASE("parse_uapi_get reports hostile replies precisely", "[wg][uapi]") {
  const std::string pk = "public_key=" + std::string(64, 'a') + "\n";
  struct Case { std::string name, text, error; };
  const std::vector<Case> cases = {
      {"empty", "", "line 0: truncated reply (no end of line"},
      {"no errno", "listen_port=1\n\n", "truncated reply (no errno line)"},
      {"cut mid-line", "listen_port=1\nerr", "truncated reply (no end of line after byte 14)"},
      {"no blank line", "listen_port=1\nerrno=0\n", "truncated reply"},
      {"errno", "errno=19\n\n", "uapi: get device 'wg0': No such device"},
      {"bad errno", "errno=x\n\n", "line 1: bad errno 'x'"},
      {"no equals", "listen_port\nerrno=0\n\n", "line 1: malformed line 'listen_port'"},
      {"bad port", "listen_port=65536\nerrno=0\n\n", "line 1: bad or duplicate listen_port '65536'"},
      {"duplicate port", "listen_port=1\nlisten_port=2\nerrno=0\n\n", "line 2: bad or duplicate listen_port '2'"},
      {"short private key", "private_key=abcd\nerrno=0\n\n", "line 1: bad private_key (not 64 hex digits)"},
      {"short public key", "public_key=abcd\nerrno=0\n\n", "line 1: bad public_key 'abcd'"},
      {"duplicate peer", pk + pk + "errno=0\n\n", "line 2: duplicate peer qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqo="},
      {"bad endpoint", pk + "endpoint=198.51.100.7\nerrno=0\n\n", "line 2: bad or duplicate endpoint '198.51.100.7'"},
      {"two endpoints", pk + "endpoint=192.0.2.1:1\nendpoint=192.0.2.1:2\nerrno=0\n\n", "line 3: bad or duplicate endpoint"},
      {"bad allowed ip", pk + "allowed_ip=10.0.0.1/33\nerrno=0\n\n", "line 2: bad allowed_ip '10.0.0.1/33'"},
      {"bad nsec", pk + "last_handshake_time_nsec=1000000000\nerrno=0\n\n", "bad last_handshake_time_nsec"},
      {"bad bytes", pk + "rx_bytes=-1\nerrno=0\n\n", "line 2: bad rx_bytes '-1'"},
      {"bad keepalive", pk + "persistent_keepalive_interval=70000\nerrno=0\n\n", "bad persistent_keepalive_interval '70000'"},
      {"protocol", pk + "protocol_version=2\nerrno=0\n\n", "unsupported protocol_version '2'"},
      {"after errno", "errno=0\nlisten_port=1\n\n", "line 2: key 'listen_port' after errno"},
      {"trailing junk", "errno=0\n\njunk", "unexpected data after the end of the reply"},
      {"long value", "listen_port=" + std::string(5000, '9') + "\nerrno=0\n\n", "'9999999999999999999999999999999999999999999999999999999999999999...'"},
      {"control chars", "listen_port=\x01\x1b[2J\nerrno=0\n\n", "bad or duplicate listen_port '??[2J'"},
  };
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.name) {
      CHECK_THAT(error_of(c.text), Catch::Contains(c.error));
      // Fed as it arrives, in pieces of any size, the same message word for word.
      for (std::size_t piece : {1, 2, 3, 7, 64}) {
        INFO("pieces of " << piece);
        CHECK(streamed_error_of(c.text, piece) == error_of(c.text));
      }
    }
  }
}

TEST_CASE("a duplicate peer is found among thousands, whatever the size hint", "[wg][uapi]") {
  // Keys that share their first and last bytes, the duplicate far from its first occurrence.
  const auto key_hex = [](unsigned n) {
    std::string hex(64, 'a');
    const std::string digits = "0123456789abcdef";
    for (std::size_t i = 0; i < 8; ++i) hex[28 + i] = digits[(n >> (4 * i)) & 0xf];
    return hex;
  };
  std::string reply;
  for (unsigned n = 0; n < 5000; ++n) reply += "public_key=" + key_hex(n) + "\nendpoint=192.0.2.1:" + std::to_string(1 + n) + "\n";
  for (const std::size_t hint : {std::size_t{0}, std::size_t{10}, std::size_t{5000}, std::size_t{1000000}}) {
    INFO("hint " << hint);
    UapiGetParser unique(hint == 0 ? "wg0" : "wg1", hint);
    unique.feed(reply + "errno=0\n\n");
    CHECK(unique.finish().peers.size() == 5000);
    UapiGetParser twice("wg0", hint);
    CHECK_THROWS_WITH(twice.feed(reply + "public_key=" + key_hex(1234) + "\nerrno=0\n\n"), Catch::Contains("line 10001: duplicate peer"));
  }
}

TEST_CASE("UapiGetParser fed in pieces reads what parse_uapi_get reads, and stops at the end", "[wg][uapi]") {
  const std::string reply = read_data("uapi_get_three_peers.txt");
  const Device whole = parse_uapi_get(reply, "wg0");
  for (std::size_t piece : {1, 2, 5, 13, 100, 4096}) {
    INFO("pieces of " << piece);
    UapiGetParser parser("wg0", 3);
    bool ended = false;
    for (std::size_t at = 0; at < reply.size(); at += piece) {
      CHECK_FALSE(ended);
      ended = parser.feed(std::string_view(reply).substr(at, piece));
    }
    CHECK(ended);
    CHECK(parser.finish() == whole);
  }
  // Nothing may follow the blank line, even in a later piece.
  UapiGetParser parser("wg0");
  CHECK(parser.feed(reply));
  CHECK_THROWS_WITH(parser.feed("x"), Catch::Contains("unexpected data after the end of the reply"));
  // A reply that stops short is reported by finish().
  UapiGetParser cut("wg0");
  CHECK_FALSE(cut.feed(reply.substr(0, 40)));
  CHECK_THROWS_WITH(cut.finish(), Catch::Contains("truncated reply (no end of line after byte"));
}

TEST_CASE("format_uapi_set writes only public key, update_only and endpoint", "[wg][uapi]") {
  DeviceUpdate update{"wg0", {}};
  update.peers.push_back({*Key::from_hex(std::string(64, 'a')), true, Endpoint::parse("[2001:db8::1]:51820")});
  update.peers.push_back({*Key::from_hex(std::string(64, 'b')), true, Endpoint::parse("192.0.2.1:1")});
  CHECK(format_uapi_set(update) ==
        "set=1\npublic_key=" + std::string(64, 'a') + "\nupdate_only=true\nendpoint=[2001:db8::1]:51820\n" +
            "public_key=" + std::string(64, 'b') + "\nupdate_only=true\nendpoint=192.0.2.1:1\n\n");
}

TEST_CASE("format_uapi_set creates a peer with its allowed IPs and keepalive, and removes one with remove=true alone", "[wg][uapi]") {
  DeviceUpdate update{"wg0", {}};
  PeerUpdate add{*Key::from_hex(std::string(64, 'a')), false, Endpoint::parse("192.0.2.1:1")};
  add.allowed_ips = std::vector<Prefix>{*Prefix::parse("10.0.0.2/32"), *Prefix::parse("fd00::/64")};
  add.persistent_keepalive = 25;
  update.peers.push_back(add);
  PeerUpdate gone{*Key::from_hex(std::string(64, 'b')), true, Endpoint::parse("192.0.2.2:2")};
  gone.remove = true;
  update.peers.push_back(gone);
  CHECK(format_uapi_set(update) == "set=1\npublic_key=" + std::string(64, 'a') + "\nendpoint=192.0.2.1:1\npersistent_keepalive_interval=25\n" +
                                       "replace_allowed_ips=true\nallowed_ip=10.0.0.2/32\nallowed_ip=fd00::/64\n" +
                                       "public_key=" + std::string(64, 'b') + "\nremove=true\n\n");
}

TEST_CASE("parse_uapi_set_reply accepts errno=0 only", "[wg][uapi]") {
  CHECK_NOTHROW(parse_uapi_set_reply("errno=0\n\n", "wg0"));
  CHECK_THROWS_WITH(parse_uapi_set_reply("errno=22\n\n", "wg0"), Catch::Contains("uapi: set device 'wg0': Invalid argument"));
  CHECK_THROWS_WITH(parse_uapi_set_reply("errno=0\n", "wg0"), Catch::Contains("truncated"));
  CHECK_THROWS_WITH(parse_uapi_set_reply("listen_port=1\nerrno=0\n\n", "wg0"), Catch::Contains("unexpected key 'listen_port'"));
}

TEST_CASE("regression: a handshake time too large for nanoseconds is an error, not overflow", "[wg][uapi][regression]") {
  // Found by fuzz_uapi: 17000000024 s overflowed std::chrono::nanoseconds.
  const std::string pk = "public_key=" + std::string(64, 'a') + "\n";
  CHECK_THAT(error_of(pk + "last_handshake_time_sec=17000000024\nerrno=0\n\n"), Catch::Contains("bad last_handshake_time_sec '17000000024'"));
  CHECK(parse_uapi_get(pk + "last_handshake_time_sec=8589934592\nerrno=0\n\n", "wg0").peers[0].last_handshake);
}

TEST_CASE("a reply of millions of empty public_key lines is refused at line 1, and a large dump parses past the reserve", "[wg][uapi]") {
  // 2,000,000 twelve-byte lines: uncapped, the peer count would reserve ~300 MB before line 1 fails.
  std::string reply;
  reply.reserve(24'000'100);
  for (int i = 0; i < 2'000'000; ++i) reply += "public_key=\n";
  reply += "errno=0\n\n";
  CHECK_THAT(error_of(reply), Catch::Contains("line 1: bad public_key ''"));
  // A real dump of many peers still parses whole, past the reserve.
  std::string many;
  for (unsigned i = 0; i < 140'000; ++i) {
    std::array<std::uint8_t, 32> b{};
    for (unsigned j = 0; j < 4; ++j) b[j] = static_cast<std::uint8_t>(i >> (8 * j));
    many += "public_key=" + hex_encode(b) + "\n";
  }
  CHECK(parse_uapi_get(many + "errno=0\n\n", "wg0").peers.size() == 140'000);
}

TEST_CASE("UapiGetParser keeps no trace of a private key line cut between feeds", "[wg][uapi]") {
  const std::string hex = "0800000000000000000000000000000000000000000000000000000000abcd40";
  const std::string reply = "private_key=" + hex + "\nlisten_port=1\npublic_key=" + std::string(64, 'a') + "\nerrno=0\n\n";
  for (std::size_t piece : {1, 5, 13, 40}) {
    INFO("pieces of " << piece);
    UapiGetParser parser("wg0");
    for (std::size_t at = 0; at < reply.size(); at += piece) {
      parser.feed(std::string_view(reply).substr(at, piece));
      // The key's line is carried whole until its end arrives; once parsed, none of it is left.
      if (at + piece > reply.find('\n') + 1) CHECK_FALSE(parser.retains(hex.substr(0, 8)));
      if (at + piece > reply.find('\n') + 1) CHECK_FALSE(parser.retains(hex.substr(48, 16)));
    }
    CHECK_FALSE(parser.finish().public_key.is_zero());
  }
}
