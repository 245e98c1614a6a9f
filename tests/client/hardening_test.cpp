// The client against hostile or unlucky conditions: spoofed replies, dead registries, endpoints
// that cannot be a remote peer, a tunnel that comes up during the lookups, a hardened unit.
#include <catch2/catch.hpp>

#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "client/client.hpp"
#include "client/client_case.hpp"
#include "client/scripted_dns.hpp"
#include "dns/names.hpp"
#include "support/fake_backend.hpp"
#include "support/keys.hpp"
#include "support/lab.hpp"

using namespace wgsd;
using namespace wgsd::test;
using namespace std::chrono_literals;
using Send = ScriptedDns::Send;

namespace {

const std::string device_name = "wgh0";

// The name the query asked, as it asked it (the case kept).
std::string asked_name(const std::vector<std::uint8_t>& q) { return qname_of(q); }

// The reply with one letter of its question name in the other case.
std::vector<std::uint8_t> other_case(std::vector<std::uint8_t> r) {
  for (std::size_t i = 13; i < r.size() && r[i] != 0; ++i) {
    const char c = static_cast<char>(r[i] | 0x20);
    if (c >= 'a' && c <= 'z') {
      r[i] ^= 0x20;
      break;
    }
  }
  return r;
}

bool has_upper_and_lower(const std::string& s) {
  bool upper = false, lower = false;
  for (char c : s) {
    upper = upper || (c >= 'A' && c <= 'Z');
    lower = lower || (c >= 'a' && c <= 'z');
  }
  return upper && lower;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

TEST_CASE("client asks with random 0x20 case and requires the exact case back", "[client][spoof]") {
  SECTION("the name is asked in mixed case, and the case differs from query to query") {
    ScriptedDns dns([](const auto& q, bool, unsigned) { return answer(q, "198.51.100.7"); });
    FakeBackend backend;
    backend.put(device_with(device_name, 4));
    const auto report = client::run_once(client_options(device_name, {dns.port()}), backend);
    CHECK(report.exit_code() == 0);
    const auto received = dns.received();
    REQUIRE(received.size() == 4);
    std::set<std::string> asked;
    for (const auto& q : received) {
      const auto name = asked_name(q);
      const auto dot = name.find('.');
      // Both parts in mixed case: the base32 label (upper case without 0x20) and the service and
      // zone labels (lower case without it). Each part has more than 20 letters.
      CHECK(has_upper_and_lower(name.substr(0, dot)));
      CHECK(has_upper_and_lower(name.substr(dot)));
      asked.insert(lower(name));
    }
    CHECK(asked.size() == 4);
    CHECK(asked.count(lower(dns::instance_name(key_n(3), zone))) == 1);
  }
  SECTION("a reply whose question differs only in case is not used over UDP: the question goes to TCP") {
    ScriptedDns dns([](const auto& q, bool tcp, unsigned) {
      if (tcp) return answer(q, "198.51.100.7");
      return std::vector<Send>{{other_case(answer(q, "192.0.2.66")[0].bytes)}};
    });
    FakeBackend backend;
    backend.put(device_with(device_name, 1));
    const auto report = client::run_once(client_options(device_name, {dns.port()}), backend);
    CHECK(report.peers[0].outcome == client::Outcome::updated);
    CHECK(dns.queries() == 2);
    CHECK(backend.get_device("wgh0").peers[0].endpoint->to_string() == "198.51.100.7:40001");
  }
  SECTION("the spoof first, then the real reply: the real one is used") {
    ScriptedDns dns([](const auto& q, bool tcp, unsigned) {
      if (tcp) return answer(q, "198.51.100.7");  // an off-path forger cannot answer over TCP
      auto spoof = answer(q, "192.0.2.66")[0].bytes;
      return std::vector<Send>{{other_case(spoof)}, answer(q, "198.51.100.7")[0]};
    });
    FakeBackend backend;
    backend.put(device_with(device_name, 1));
    CHECK(client::run_once(client_options(device_name, {dns.port()}), backend).peers[0].outcome == client::Outcome::updated);
    CHECK(backend.get_device("wgh0").peers[0].endpoint->to_string() == "198.51.100.7:40001");
  }
}

TEST_CASE("client: a dead registry port fails fast (connected UDP socket, ICMP port unreachable)", "[client][spoof]") {
  FakeBackend backend;
  backend.put(device_with(device_name, 1));
  auto o = client_options(device_name, {free_port()});
  o.timeout = 2000ms;
  o.retries = 2;
  const auto start = std::chrono::steady_clock::now();
  const auto report = client::run_once(o, backend);
  const auto took = std::chrono::steady_clock::now() - start;
  CHECK(report.peers[0].outcome == client::Outcome::lookup_failed);
  CHECK_THAT(report.peers[0].message, Catch::Contains("refused"));
  // Each refusal is followed by a short wait (200 ms) before the next attempt, so a registry that
  // is restarting is really asked again; three attempts of 2 s would take 6 s.
  CHECK(took >= 390ms);
  CHECK(took < 1500ms);
}

TEST_CASE("client asks several registries in parallel, and the freshest answer wins", "[client][spoof]") {
  // Each registry holds its reply until the other has seen its query: asked one after the other,
  // the first would wait in vain (up to a bound) and say so.
  std::atomic<unsigned> seen{0};
  std::atomic<bool> waited_in_vain{false};
  auto holding = [&](const char* address, int handshake) {
    return [&, address, handshake](const auto& q, bool, unsigned) {
      ++seen;
      const auto limit = std::chrono::steady_clock::now() + 1000ms;
      while (seen < 2 && std::chrono::steady_clock::now() < limit) std::this_thread::sleep_for(5ms);
      if (seen < 2) waited_in_vain = true;
      return answer(q, address, "\"txtvers=1\" \"handshake=" + std::to_string(handshake) + "\"");
    };
  };
  ScriptedDns older(holding("198.51.100.1", 100));
  ScriptedDns newer(holding("198.51.100.2", 200));
  FakeBackend backend;
  backend.put(device_with(device_name, 1));
  auto o = client_options(device_name, {older.port(), newer.port()});
  o.timeout = 3000ms;
  const auto report = client::run_once(o, backend);
  CHECK_FALSE(waited_in_vain);
  CHECK(seen == 2);
  CHECK(report.peers[0].outcome == client::Outcome::updated);
  CHECK(backend.get_device("wgh0").peers[0].endpoint->to_string() == "198.51.100.2:40001");
  SECTION("without handshake= the first registry in --dns order that knows the peer wins") {
    ScriptedDns unknown([](const auto& q, bool, unsigned) { return std::vector<Send>{{reply_to(q, LDNS_RCODE_NXDOMAIN, {})}}; });
    ScriptedDns second([](const auto& q, bool, unsigned) { return answer(q, "198.51.100.9"); });
    ScriptedDns third([](const auto& q, bool, unsigned) { return answer(q, "198.51.100.10"); });
    FakeBackend b;
    b.put(device_with(device_name, 1));
    CHECK(client::run_once(client_options(device_name, {unknown.port(), second.port(), third.port()}), b).exit_code() == 0);
    CHECK(b.get_device("wgh0").peers[0].endpoint->to_string() == "198.51.100.9:40001");
  }
}

TEST_CASE("client leaves a peer alone whose tunnel came up during the lookups", "[client][spoof]") {
  // The first read shows an old handshake; any later read shows one a second old.
  struct Racing : wg::Backend {
    FakeBackend inner;
    unsigned reads{};
    wg::Device get_device(const std::string& n) override {
      auto d = inner.get_device(n);
      d.peers[0].last_handshake = wg::Clock::now() - (reads++ == 0 ? 1h : 1s);
      return d;
    }
    void apply(const wg::DeviceUpdate& u) override { inner.apply(u); }
  } racing;
  racing.inner.put(device_with(device_name, 1));
  ScriptedDns dns([](const auto& q, bool, unsigned) { return answer(q, "198.51.100.7"); });
  const auto report = client::run_once(client_options(device_name, {dns.port()}), racing);
  CHECK(dns.queries() == 1);  // it did look the peer up
  CHECK(racing.inner.applied().empty());
  CHECK(report.peers[0].outcome == client::Outcome::fresh);
  CHECK_THAT(report.peers[0].message, Catch::Contains("during the lookup"));
  CHECK(report.exit_code() == 0);
}

TEST_CASE("client refuses endpoints that cannot be a remote peer", "[client][endpoint]") {
  const auto [address, why] = GENERATE(table<std::string, std::string>({
      {"0.0.0.0", "unspecified"},
      {"::", "unspecified"},
      {"127.0.0.53", "loopback"},
      {"::1", "loopback"},
      {"::ffff:127.0.0.1", "loopback"},
      {"224.0.0.251", "multicast"},
      {"ff02::1", "multicast"},
      {"::ffff:239.1.2.3", "multicast"},
      {"169.254.10.1", "link-local"},
      {"fe80::1", "link-local"},
      {"::ffff:169.254.0.9", "link-local"},
      {"10.9.0.7", "allowed IPs 10.9.0.0/24"},
      {"::ffff:10.9.0.7", "allowed IPs 10.9.0.0/24"},
      {"fd00:9::abcd", "allowed IPs fd00:9::/64"},
  }));
  CAPTURE(address);
  ScriptedDns dns([address = address](const auto& q, bool, unsigned) { return answer(q, address); });
  FakeBackend backend;
  auto d = device_with(device_name, 2);
  d.peers[1].allowed_ips = {*wg::Prefix::parse("10.9.0.0/24"), *wg::Prefix::parse("fd00:9::/64")};
  d.peers[1].endpoint = wg::Endpoint::parse("198.51.100.50:1");
  d.peers[1].last_handshake = wg::Clock::now();  // left alone: only peer 1 is looked up
  backend.put(d);
  const auto report = client::run_once(client_options(device_name, {dns.port()}), backend);
  CHECK(report.exit_code() == 2);
  CHECK(backend.applied().empty());
  std::ostringstream out;
  client::print_messages(report, false, out);
  const std::string shown = wg::Endpoint{wg::IpAddress::parse(address)->unmapped(), 40001}.to_string();
  const std::string line = "wgsd-client: " + key_n(1).to_base64() + ": " + shown + " refused: ";
  CHECK_THAT(out.str(), Catch::Contains(line));
  CHECK_THAT(out.str(), Catch::Contains(why));
}

TEST_CASE("client accepts an ordinary public endpoint and a default route's allowed IPs", "[client][endpoint]") {
  ScriptedDns dns([](const auto& q, bool, unsigned) { return answer(q, "2001:db8::7"); });
  FakeBackend backend;
  auto d = device_with(device_name, 2);
  d.peers[1].allowed_ips = {*wg::Prefix::parse("0.0.0.0/0"), *wg::Prefix::parse("::/0")};  // wg-quick's fwmark rule keeps this loop-free
  d.peers[1].last_handshake = wg::Clock::now();
  backend.put(d);
  const auto report = client::run_once(client_options(device_name, {dns.port()}), backend);
  CHECK(report.exit_code() == 0);
  CHECK(backend.get_device("wgh0").peers[0].endpoint->to_string() == "[2001:db8::7]:40001");
}

TEST_CASE("client reads allowed=, allowed2=, ... in order, and the older repeated allowed=", "[client][txt]") {
  const auto [txt, expected] = GENERATE(table<std::string, std::string>({
      {"\"txtvers=1\" \"allowed=10.0.0.0/24,10.0.1.0/24\" \"allowed3=10.0.3.0/24\" \"allowed2=10.0.2.0/24\"",
       "[\"10.0.0.0/24\",\"10.0.1.0/24\",\"10.0.2.0/24\",\"10.0.3.0/24\"]"},
      {"\"txtvers=1\" \"allowed=10.0.0.0/24\" \"allowed=fd00::/64\"", "[\"10.0.0.0/24\",\"fd00::/64\"]"},
      {"\"txtvers=1\" \"allowed=\"", "[]"},
  }));
  CAPTURE(txt);
  ScriptedDns dns([txt = txt](const auto& q, bool, unsigned) { return answer(q, "198.51.100.7", txt); });
  FakeBackend backend;
  backend.put(device_with(device_name, 1));
  std::ostringstream out;
  client::print_json(client::run_once(client_options(device_name, {dns.port()}), backend), false, out);
  CHECK_THAT(out.str(), Catch::Contains("\"allowed\":" + expected));
}

TEST_CASE("wgsd-client runs as nobody under LimitNPROC=16", "[client][live][nproc]") {
  require_live({"wireguard-go", "wg", "ip", "setpriv", "prlimit"});
  constexpr unsigned peers = 64;
  Netns ns;
  WireguardGo dev(ns, "wgn");
  TempDir dir;
  {
    std::ofstream c(dir.path() + "/c.conf");
    c << "[Interface]\nPrivateKey = " << genkey() << "\n";
    for (unsigned i = 1; i <= peers; ++i) c << "[Peer]\nPublicKey = " << key_n(i).to_base64() << "\n";
  }
  REQUIRE(ns.exec("wg setconf " + dev.ifname() + " " + dir.path() + "/c.conf") == 0);
  ScriptedDns dns([](const auto& q, bool, unsigned) { return answer(q, "198.51.100.7"); });
  const std::string log = dir.path() + "/client.log";
  // As a hardened unit runs it: uid 65534, at most 16 processes, one ambient capability to reach
  // the device (CAP_DAC_OVERRIDE opens the root-owned UAPI socket, as CAP_NET_ADMIN opens netlink;
  // chmod on the socket would make wireguard-go close the device).
  const int rc = sh("prlimit --nproc=16 setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=+dac_override "
                    "--ambient-caps=+dac_override " + std::string(WGSD_CLIENT_BIN) +
                    " --device " + dev.ifname() + " --backend uapi --dns 127.0.0.1:" + std::to_string(dns.port()) +
                    " --zone example.com. --timeout 1s >" + log + " 2>&1");
  INFO(sh_out("cat " + log));
  CHECK(rc == 0);
  CHECK(dns.queries() == peers);
  CHECK(ns.exec_out("wg show " + dev.ifname() + " endpoints").find(key_n(peers).to_base64() + "\t198.51.100.7:40001") != std::string::npos);
}

TEST_CASE("wgsd-client --concurrency is validated", "[client][cli]") {
  TempDir dir;
  const std::string log = dir.path() + "/out";
  const std::string base = std::string(WGSD_CLIENT_BIN) + " --device wgh0 --dns 127.0.0.1:1 --zone example.com. --concurrency ";
  for (const char* bad : {"0", "4097", "-1", "lots", "8x"}) {
    CAPTURE(bad);
    CHECK(sh(base + "'" + bad + "' >" + log + " 2>&1") == 1);
    CHECK_THAT(sh_out("cat " + log), Catch::Contains(std::string("--concurrency: expected a number from 1 to 4096, got '") + bad + "'"));
  }
}

TEST_CASE("wgsd-client refuses --timeout and --retries and --interval out of range", "[client][cli]") {
  TempDir dir;
  const std::string log = dir.path() + "/out";
  // A device that does not exist: a flag accepted by mistake would run (and, with --interval, go
  // on running) instead of exiting 1; `timeout` bounds that.
  const std::string base = "timeout 10 " + std::string(WGSD_CLIENT_BIN) + " --device wgnonexist0 --dns 127.0.0.1:1 --zone example.com. ";
  const auto [flag, bad, expected] = GENERATE(table<std::string, std::string, std::string>({
      {"--timeout", "500us", "expected a duration from 1ms to 60s"},
      {"--timeout", "0s", "expected a duration from 1ms to 60s"},
      {"--timeout", "61s", "expected a duration from 1ms to 60s"},
      {"--retries", "11", "expected a number from 0 to 10"},
      {"--retries", "4294967296", "expected a number from 0 to 10"},
      {"--retries", "-1", "expected a number from 0 to 10"},
      {"--retries", "two", "expected a number from 0 to 10"},
      {"--interval", "10ms", "expected a duration from 1s to 24h"},
      {"--interval", "0s", "expected a duration from 1s to 24h"},
      {"--interval", "25h", "expected a duration from 1s to 24h"},
  }));
  CAPTURE(flag, bad);
  CHECK(sh(base + flag + " '" + bad + "' >" + log + " 2>&1") == 1);
  CHECK_THAT(sh_out("cat " + log), Catch::Contains(flag + ": " + expected + ", got '" + bad + "'"));
}
