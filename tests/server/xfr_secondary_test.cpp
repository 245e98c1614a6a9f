// Knot DNS and NSD as secondaries of wgsd-server: they transfer a 10,000-peer zone and answer for
// it as wgsd does.
#include <catch2/catch.hpp>

#include <set>

#include "dns/names.hpp"
#include "support/keys.hpp"
#include "support/secondaries.hpp"
#include "support/serving.hpp"

using namespace wgsd;
using namespace wgsd::test;
using namespace std::chrono_literals;

namespace {

wg::Device mesh(unsigned n) {
  wg::Device d;
  d.name = "wgxfr0";
  d.public_key = key_n(999999);
  d.listen_port = 51820;
  for (unsigned i = 1; i <= n; ++i) {
    wg::Peer p;
    p.public_key = key_n(i);
    const std::string addr = i % 10 == 0 ? "[2001:db8::" + std::to_string(i % 9000 + 1) + "]" : "198.51.100." + std::to_string(i % 250 + 1);
    p.endpoint = wg::Endpoint::parse(addr + ":" + std::to_string(1024 + i % 60000));
    p.allowed_ips = {wg::Prefix(*wg::IpAddress::parse("10.1.0.0"), 16), wg::Prefix(*wg::IpAddress::parse("fd00::"), 64)};
    p.last_handshake = wg::Clock::now() - std::chrono::seconds(i % 100);
    d.peers.push_back(p);
  }
  return d;
}

std::string corefile(unsigned short port) {
  return "example.com.:" + std::to_string(port) + " {\n bind 127.0.0.1\n wgsd example.com. wgxfr0 {\n  ns ns1.example.com. 192.0.2.53\n }\n" +
         " tsig {\n  secret key.example. " + xfr_secret + "\n }\n transfer {\n  to 127.0.0.1\n }\n}\n";
}

// The TXT strings without handshake=: the transfer view (docs/transfer.md).
std::vector<std::string> without_handshake(std::vector<std::string> lines) {
  for (auto& l : lines) {
    if (const auto at = l.find(" \"handshake="); at != std::string::npos) l.erase(at);
  }
  return lines;
}

std::set<std::string> ptr_set(const std::string& axfr_text) {
  std::set<std::string> out;
  std::istringstream in(axfr_text);
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line);
    std::string owner, ttl, cls, type, target;
    if (words >> owner >> ttl >> cls >> type >> target && type == "PTR") out.insert(target);
  }
  return out;
}

}  // namespace

TEST_CASE("Knot and NSD transfer a 10,000-peer zone from wgsd-server and answer as it does", "[server][xfr][live]") {
  require_live({"knotd", "nsd", "kdig"});
  const unsigned n = 10000;
  const auto port = free_port();
  Serving wgsd(corefile(port), {mesh(n)});
  const unsigned long serial = soa_serial(port);
  REQUIRE(serial > 0);
  Secondary knot, nsd;
  start_knot(knot, free_port(), port);
  start_nsd(nsd, free_port(), port);
  for (Secondary* s : {&knot, &nsd}) {
    INFO(s->name << " log:\n" << s->log());
    REQUIRE(eventually([&] { return soa_serial(s->port) == serial; }, 120000ms));  // bounded; generous for a sanitizer build on a busy machine
  }
  CHECK_THAT(knot.log(), Catch::Contains("AXFR, incoming"));
  CHECK_THAT(nsd.log(), Catch::Contains("TSIG verified with key key.example."));

  // A sample of names: SRV, A/AAAA and TXT (without handshake=) as wgsd answers them.
  for (unsigned i = 1; i <= n; i += 997) {
    const std::string name = dns::instance_name(key_n(i), "example.com.", true);
    for (const std::string type : {"SRV", "A", "AAAA", "TXT"}) {
      const auto expected = without_handshake(short_answer(port, name, type));
      CAPTURE(name, type);
      if ((type != "A" && type != "AAAA") || (type == "AAAA") == (i % 10 == 0)) CHECK_FALSE(expected.empty());
      CHECK(short_answer(knot.port, name, type) == expected);
      CHECK(short_answer(nsd.port, name, type) == expected);
    }
  }
  // The PTR set, complete: every peer, as wgsd's own AXFR has it.
  const auto at = [](unsigned short p) { return " @127.0.0.1 -p " + std::to_string(p) + " example.com. AXFR"; };
  const auto wgsd_ptrs = ptr_set(sh_out(std::string("kdig -y hmac-sha256:key.example.:") + xfr_secret + at(port)));
  CHECK(wgsd_ptrs.size() == n);
  CHECK(ptr_set(sh_out("kdig" + at(nsd.port))) == wgsd_ptrs);
  // Knot will not send a PTR set over 64 KB itself: what it holds, read through its control socket.
  std::set<std::string> knot_ptrs;
  std::istringstream in(sh_out("knotc -s " + knot.dir.path() + "/knot.sock zone-read example.com. _wireguard._udp.example.com. PTR"));
  for (std::string line; std::getline(in, line);) knot_ptrs.insert(line.substr(line.rfind(' ') + 1));
  CHECK(knot_ptrs == wgsd_ptrs);
}
