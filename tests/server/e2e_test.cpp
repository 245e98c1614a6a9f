// wgsd-server against real wireguard-go devices in a network namespace, asked with dig and drill.
#include <catch2/catch.hpp>

#include <fstream>
#include <thread>

#include "dns/names.hpp"
#include "support/dig.hpp"
#include "support/keys.hpp"
#include "support/lab.hpp"

using namespace wgsd;
using namespace wgsd::test;
using namespace std::chrono_literals;

namespace {

std::string pubkey(const std::string& priv) {
  auto k = sh_out("echo " + priv + " | wg pubkey");
  k.pop_back();
  return k;
}

// A registry device A with assorted peers, plus a second device B that really handshakes with A
// over the namespace's loopback, and wgsd-server serving A.
class Registry {
public:
  Registry() : a_(ns_, "wga"), b_(ns_, "wgb") {
    priv_a_ = write_key("a");
    priv_b_ = write_key("b");
    pub_a_ = pubkey(read(priv_a_));
    pub_b_ = pubkey(read(priv_b_));
    for (int i = 0; i < 5; ++i) extra_.push_back(pubkey(genkey()));
    const std::string a = "wg set " + a_.ifname();
    REQUIRE(ns_.exec(a + " private-key " + priv_a_ + " listen-port 51820") == 0);
    REQUIRE(ns_.exec(a + " peer " + extra_[0] + " endpoint 198.51.100.7:40001 allowed-ips 10.0.0.1/32,192.168.50.0/24") == 0);
    REQUIRE(ns_.exec(a + " peer " + extra_[1] + " endpoint [2001:db8::7]:40002 allowed-ips 10.0.0.2/32,fd00::2/128") == 0);
    REQUIRE(ns_.exec(a + " peer " + extra_[2] + " allowed-ips 10.0.0.3/32") == 0);
    REQUIRE(ns_.exec(a + " peer " + extra_[3] + " endpoint 192.0.2.55:5 allowed-ips 10.0.0.5/32") == 0);  // hidden
    REQUIRE(ns_.exec(a + " peer " + pub_b_ + " allowed-ips 10.9.0.2/32") == 0);
    for (unsigned i = 0; i < 30; ++i) {  // enough PTRs to overflow a UDP answer
      REQUIRE(ns_.exec(a + " peer " + key_n(500 + i).to_base64() + " endpoint 198.51.100.9:" + std::to_string(20000 + i)) == 0);
    }
    REQUIRE(ns_.exec("ip addr add 10.9.0.1/24 dev " + a_.ifname()) == 0);
    REQUIRE(ns_.exec("ip link set " + a_.ifname() + " up") == 0);
    const std::string b = "wg set " + b_.ifname();
    REQUIRE(ns_.exec(b + " private-key " + priv_b_ + " listen-port 51821 peer " + pub_a_ +
                     " endpoint 127.0.0.1:51820 allowed-ips 10.9.0.1/32 persistent-keepalive 1") == 0);
    REQUIRE(ns_.exec("ip addr add 10.9.0.2/24 dev " + b_.ifname()) == 0);
    REQUIRE(ns_.exec("ip link set " + b_.ifname() + " up") == 0);
    REQUIRE(ns_.exec("ip -6 addr add ::1/128 dev lo 2>/dev/null; true") == 0);
    // Addresses a remote peer could reach, for `self` without endpoint (loopback is never published).
    REQUIRE(ns_.exec("ip addr add 192.0.2.53/32 dev lo") == 0);
    REQUIRE(ns_.exec("ip -6 addr add 2001:db8::53/128 dev lo nodad") == 0);

    corefile_ = dir_.path() + "/Corefile";
    std::ofstream(corefile_) << ".:5353 {\n  bind 127.0.0.1 ::1 192.0.2.53 2001:db8::53\n  log\n  errors\n"
                             << "  wgsd example.com. " << a_.ifname() << " {\n    self 10.0.0.254/32\n    hide " << extra_[3]
                             << "\n    refresh 200ms\n    ns ns1.example.com. 127.0.0.1\n  }\n"
                             << "  wgsd fresh.example.net. " << a_.ifname() << " {\n    max-age 3s\n    refresh 200ms\n    ns ns1.example.com.\n  }\n}\n";
    server_ = Process(ns_.wrap({WGSD_SERVER_BIN, "--conf", corefile_}), dir_.path() + "/server.log");
    for (int i = 0; i < 100; ++i) {
      if (dig("example.com. SOA").status == "NOERROR") return;
      std::this_thread::sleep_for(50ms);
    }
    FAIL("wgsd-server did not answer; log:\n" << sh_out("cat " + dir_.path() + "/server.log"));
  }

  DigResult dig(const std::string& args) const { return test::dig(ns_, "@127.0.0.1 -p 5353 +norec " + args); }
  std::string drill(const std::string& args) const { return ns_.exec_out("drill -p 5353 " + args + " @127.0.0.1 2>&1"); }
  std::string name(const std::string& b64, const std::string& zone = "example.com.") const {
    return dns::instance_name(key_from_b64(b64), zone);
  }
  std::string log() const { return sh_out("cat " + dir_.path() + "/server.log"); }

  Netns ns_;
  WireguardGo a_;
  WireguardGo b_;
  TempDir dir_;
  std::string priv_a_, priv_b_, pub_a_, pub_b_, corefile_;
  std::vector<std::string> extra_;
  Process server_;

private:
  std::string write_key(const std::string& n) {
    const std::string path = dir_.path() + "/" + n + ".key";
    std::ofstream(path) << genkey() << "\n";
    return path;
  }
  static std::string read(const std::string& path) {
    auto s = sh_out("cat " + path);
    s.pop_back();
    return s;
  }
};

bool contains(const std::vector<std::string>& lines, const std::string& needle) {
  for (const auto& l : lines) {
    if (l.find(needle) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("wgsd-server answers dig and drill from a live wireguard-go device", "[e2e][live]") {
  require_live({"wireguard-go", "wg", "ip", "dig", "drill"});
  Registry r;
  const std::string n1 = r.name(r.extra_[0]);
  const std::string n2 = r.name(r.extra_[1]);
  const std::string n3 = r.name(r.extra_[2]);
  const std::string hidden = r.name(r.extra_[3]);
  const std::string self = r.name(r.pub_a_);

  SECTION("SRV with A and TXT glue, over UDP and TCP") {
    for (const char* transport : {"", "+tcp"}) {
      auto d = r.dig(std::string(transport) + " " + n1 + " SRV");
      CHECK(d.status == "NOERROR");
      CHECK(d.has_flag("aa"));
      CHECK_FALSE(d.has_flag("ra"));
      CHECK(d.answer == std::vector<std::string>{n1 + " 0 IN SRV 0 0 40001 " + n1});
      REQUIRE(d.additional.size() == 2);
      CHECK(d.additional[0] == n1 + " 0 IN A 198.51.100.7");
      CHECK(d.additional[1] == n1 + " 0 IN TXT \"txtvers=1\" \"pub=" + r.extra_[0] + "\" \"allowed=10.0.0.1/32,192.168.50.0/24\"");
    }
    auto d2 = r.dig(n2 + " SRV");
    CHECK(d2.answer == std::vector<std::string>{n2 + " 0 IN SRV 0 0 40002 " + n2});
    CHECK(d2.additional.at(0) == n2 + " 0 IN AAAA 2001:db8::7");
  }
  SECTION("A, AAAA, TXT and NODATA") {
    CHECK(r.dig(n1 + " A").answer == std::vector<std::string>{n1 + " 0 IN A 198.51.100.7"});
    auto nodata = r.dig(n1 + " AAAA");
    CHECK(nodata.status == "NOERROR");
    CHECK(nodata.answer.empty());
    REQUIRE(nodata.authority.size() == 1);
    CHECK(nodata.authority[0].rfind("example.com. 5 IN SOA ns1.example.com. postmaster.example.com. ", 0) == 0);
    CHECK(r.dig(n2 + " AAAA").answer == std::vector<std::string>{n2 + " 0 IN AAAA 2001:db8::7"});
    CHECK(r.dig(n2 + " A").answer.empty());
    CHECK(r.dig(n3 + " TXT").answer == std::vector<std::string>{n3 + " 0 IN TXT \"txtvers=1\" \"pub=" + r.extra_[2] + "\" \"allowed=10.0.0.3/32\""});
    auto n3_srv = r.dig(n3 + " SRV");
    CHECK(n3_srv.status == "NOERROR");
    CHECK(n3_srv.answer.empty());
  }
  SECTION("NXDOMAIN, hidden peers, REFUSED, apex SOA and NS") {
    auto nx = r.dig(r.name(key_n(1).to_base64()) + " SRV");
    CHECK(nx.status == "NXDOMAIN");
    CHECK(nx.authority.size() == 1);
    CHECK(r.dig(hidden + " TXT").status == "NXDOMAIN");
    CHECK(r.dig("nosuch._wireguard._udp.example.com. SRV").status == "NXDOMAIN");
    auto refused = r.dig("other.test. A");
    CHECK(refused.status == "REFUSED");
    CHECK_FALSE(refused.has_flag("aa"));
    CHECK(r.dig("example.com. SOA").answer.size() == 1);
    CHECK(r.dig("example.com. NS").answer == std::vector<std::string>{"example.com. 3600 IN NS ns1.example.com."});
    CHECK(r.dig("example.com. TXT -c CH").status == "REFUSED");
  }
  SECTION("0x20 mixed case survives") {
    std::string mixed = n1;
    for (std::size_t i = 0; i < mixed.size(); i += 2) mixed[i] = static_cast<char>(std::toupper(mixed[i]));
    auto d = r.dig(mixed + " SRV");
    REQUIRE(d.answer.size() == 1);
    CHECK(d.answer[0].rfind(mixed + " 0 IN SRV", 0) == 0);
    CHECK(fold(d.raw).find(";" + mixed + " IN SRV") != std::string::npos);
  }
  SECTION("self answers with the address the query arrived on, never a loopback one") {
    auto v4 = test::dig(r.ns_, "@192.0.2.53 -p 5353 +norec " + self + " SRV");
    REQUIRE(v4.answer.size() == 1);
    CHECK(v4.additional.at(0) == self + " 0 IN A 192.0.2.53");
    auto v6 = test::dig(r.ns_, "@2001:db8::53 -p 5353 +norec " + self + " AAAA");
    CHECK(v6.answer == std::vector<std::string>{self + " 0 IN AAAA 2001:db8::53"});
    auto loopback = r.dig(self + " SRV");
    CHECK(loopback.status == "NOERROR");
    CHECK(loopback.answer.empty());
    CHECK(loopback.additional.empty());
    CHECK(test::dig(r.ns_, "@::1 -p 5353 +norec " + self + " AAAA").answer.empty());
    CHECK(r.dig(self + " TXT").answer.at(0).find("\"allowed=10.0.0.254/32\"") != std::string::npos);
  }
  SECTION("a PTR set too big for UDP: TC, then dig gets it whole over TCP") {
    auto udp = r.dig("+ignore _wireguard._udp.example.com. PTR");
    CHECK(udp.has_flag("tc"));
    CHECK(udp.answer.empty());
    auto retried = r.dig("_wireguard._udp.example.com. PTR");
    CHECK(retried.raw.find("Truncated, retrying in TCP mode") != std::string::npos);
    // 30 bulk peers, n1, n2, the handshaking device B, and self; not n3 (no endpoint) nor the hidden one.
    CHECK(retried.answer.size() == 34);
    CHECK(contains(retried.answer, self));
    CHECK_FALSE(contains(retried.answer, n3));
    CHECK_FALSE(contains(retried.answer, hidden));
    CHECK(retried.answer.back().find(self) != std::string::npos);  // self last
  }
  SECTION("drill over UDP and TCP") {
    for (const char* transport : {"", "-t"}) {
      const auto out = r.drill(std::string(transport) + " " + n1 + " SRV");
      CHECK(out.find("rcode: NOERROR") != std::string::npos);
      CHECK(fold(out).find(n1 + " 0 IN SRV 0 0 40001 " + n1) != std::string::npos);
      CHECK(fold(out).find(n1 + " 0 IN A 198.51.100.7") != std::string::npos);
    }
    CHECK(r.drill("other.test A").find("rcode: REFUSED") != std::string::npos);
  }
  SECTION("the jwhited/wgsd client's query shape: upper case, RD, no EDNS, UDP") {
    std::string upper = dns::instance_name(key_from_b64(r.extra_[0]), "example.com.", true);
    auto d = test::dig(r.ns_, "@127.0.0.1 -p 5353 +rec +noedns " + upper + " SRV");
    REQUIRE(d.answer.size() == 1);
    CHECK(d.answer[0].find(" IN SRV 0 0 40001 ") != std::string::npos);
    CHECK(d.additional.at(0).find(" IN A 198.51.100.7") != std::string::npos);
    CHECK(d.has_flag("rd"));
  }
  SECTION("max-age publishes only the peer with a fresh handshake") {
    const std::string fresh_b = r.name(r.pub_b_, "fresh.example.net.");
    REQUIRE(eventually([&] { return r.dig(fresh_b + " SRV").answer.size() == 1; }, 5000ms));
    auto srv = r.dig(fresh_b + " SRV");
    CHECK(srv.answer[0].find(" IN SRV 0 0 51821 ") != std::string::npos);
    CHECK(srv.additional.at(0) == fresh_b + " 0 IN A 127.0.0.1");
    CHECK(srv.additional.at(1).find("\"handshake=") != std::string::npos);
    CHECK(r.dig(r.name(r.extra_[0], "fresh.example.net.") + " SRV").answer.empty());  // never handshaked
    CHECK(r.dig("_wireguard._udp.fresh.example.net. PTR").answer == std::vector<std::string>{"_wireguard._udp.fresh.example.net. 0 IN PTR " + fresh_b});
    // B goes away: its mapping is dead, so within max-age plus one refresh it is no longer published.
    r.b_.kill();
    CHECK(eventually([&] { return r.dig(fresh_b + " SRV").answer.empty(); }, 8000ms));
    CHECK(r.dig(fresh_b + " TXT").answer.size() == 1);
  }
  CHECK(r.log().find("[INFO] 127.0.0.1:") != std::string::npos);  // the log directive: one line per query
}

TEST_CASE("answers follow the device within one refresh and SERIAL grows", "[e2e][live]") {
  require_live({"wireguard-go", "wg", "ip", "dig"});
  Registry r;
  auto serial = [&] {
    auto d = r.dig("example.com. SOA");
    std::istringstream in(d.answer.at(0));
    std::string w;
    for (int i = 0; i < 7; ++i) in >> w;
    return std::stoul(w);
  };
  const std::string a = "wg set " + r.a_.ifname();
  const auto s0 = serial();
  const std::string added = key_n(9000).to_base64();
  REQUIRE(r.ns_.exec(a + " peer " + added + " endpoint 203.0.113.9:999 allowed-ips 10.0.0.99/32") == 0);
  CHECK(eventually([&] { return r.dig(r.name(added) + " A").answer == std::vector<std::string>{r.name(added) + " 0 IN A 203.0.113.9"}; }, 2000ms));
  const auto s1 = serial();
  CHECK(s1 > s0);
  REQUIRE(r.ns_.exec(a + " peer " + added + " endpoint [2001:db8::99]:1000") == 0);
  CHECK(eventually([&] { return r.dig(r.name(added) + " AAAA").answer.size() == 1; }, 2000ms));
  CHECK(r.dig(r.name(added) + " A").answer.empty());
  CHECK(r.dig(r.name(added) + " SRV").answer.at(0).find(" 0 0 1000 ") != std::string::npos);
  const auto s2 = serial();
  CHECK(s2 > s1);
  REQUIRE(r.ns_.exec(a + " peer " + added + " remove") == 0);
  CHECK(eventually([&] { return r.dig(r.name(added) + " TXT").status == "NXDOMAIN"; }, 2000ms));
  CHECK(serial() > s2);
}

TEST_CASE("the server keeps answering while the device is gone, and follows it back", "[e2e][live]") {
  require_live({"wireguard-go", "wg", "ip", "dig"});
  Registry r;
  const std::string n1 = r.name(r.extra_[0]);
  REQUIRE(r.dig(n1 + " A").answer.size() == 1);
  r.a_.kill();
  std::this_thread::sleep_for(600ms);  // several refreshes fail
  auto during = r.dig(n1 + " A");
  CHECK(during.status == "NOERROR");
  CHECK(during.answer == std::vector<std::string>{n1 + " 0 IN A 198.51.100.7"});
  r.a_.restart();
  const std::string newcomer = key_n(7777).to_base64();
  REQUIRE(r.ns_.exec("wg set " + r.a_.ifname() + " private-key " + r.priv_a_ + " peer " + newcomer + " endpoint 192.0.2.77:7") == 0);
  CHECK(eventually([&] { return r.dig(r.name(newcomer) + " A").answer.size() == 1; }, 3000ms));
  CHECK(r.dig(n1 + " A").status == "NXDOMAIN");  // the restarted device no longer has it
  const auto log = r.log();
  // One error for the whole failure streak, then one line when it recovers.
  std::size_t errors = 0;
  for (std::size_t p = log.find("[ERROR] wgsd: zone example.com."); p != std::string::npos; p = log.find("[ERROR] wgsd: zone example.com.", p + 1)) ++errors;
  CHECK(errors == 1);
  CHECK(log.find("no such device '" + r.a_.ifname() + "'") != std::string::npos);
  CHECK(log.find("serving the last good data") != std::string::npos);
  CHECK(log.find("is readable again") != std::string::npos);
}
