// The client against a registry that misbehaves in every way: the device changes only on a correct answer.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <sstream>

#include "client/client.hpp"
#include "client/resolver.hpp"
#include "client/scripted_dns.hpp"
#include "dns/names.hpp"
#include "support/fake_backend.hpp"
#include "support/keys.hpp"

using namespace wgsd;
using namespace wgsd::test;
using Send = ScriptedDns::Send;

namespace {

const std::string zone = "example.com.";

struct Setup {
  FakeBackend backend;
  client::Options options;
  wg::Key peer = key_n(1);
  std::string name = dns::instance_name(key_n(1), zone);

  explicit Setup(std::uint16_t port) {
    wg::Device d;
    d.name = "wgc0";
    wg::Peer p;
    p.public_key = peer;
    d.peers.push_back(p);
    backend.put(d);
    options.device = "wgc0";
    options.registries = {wg::Endpoint{*wg::IpAddress::parse("127.0.0.1"), port}};
    options.zone = zone;
    options.timeout = std::chrono::milliseconds(150);
    options.retries = 2;
  }
  client::RunReport run() { return client::run_once(options, backend); }
  std::optional<wg::Endpoint> endpoint() { return backend.get_device("wgc0").peers[0].endpoint; }
};

std::vector<std::string> srv(const std::string& name, int port) { return {name + " 0 IN SRV 0 0 " + std::to_string(port) + " " + name}; }

std::vector<Send> good(const std::vector<std::uint8_t>& q, const std::string& name) {
  return {{reply_to(q, LDNS_RCODE_NOERROR, srv(name, 40001), {name + " 0 IN A 198.51.100.7", name + " 0 IN TXT \"txtvers=1\" \"handshake=5\""})}};
}

}  // namespace

TEST_CASE("client sets the endpoint from a correct answer, update-only", "[client]") {
  std::string name = dns::instance_name(key_n(1), zone);
  ScriptedDns dns([&](const auto& q, bool, unsigned) { return good(q, name); });
  Setup s(dns.port());
  const auto report = s.run();
  REQUIRE(report.peers.size() == 1);
  CHECK(report.peers[0].outcome == client::Outcome::updated);
  CHECK(report.exit_code() == 0);
  CHECK(s.endpoint()->to_string() == "198.51.100.7:40001");
  REQUIRE(s.backend.applied().size() == 1);
  CHECK(s.backend.applied()[0].peers[0].update_only);
  // The query: the instance name (in random 0x20 case), RD, EDNS(0) with 1232.
  const auto q = dns.received().at(0);
  auto asked = qname_of(q);
  std::transform(asked.begin(), asked.end(), asked.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  CHECK(asked == dns::instance_name(key_n(1), zone));
  CHECK((q[2] & 0x01) == 1);
  ldns_pkt* pkt = nullptr;
  REQUIRE(ldns_wire2pkt(&pkt, q.data(), q.size()) == LDNS_STATUS_OK);
  CHECK(ldns_pkt_edns_udp_size(pkt) == 1232);
  ldns_pkt_free(pkt);
  SECTION("a second run sees the same endpoint and writes nothing") {
    CHECK(s.run().peers[0].outcome == client::Outcome::unchanged);
    CHECK(s.backend.applied().size() == 1);
  }
}

TEST_CASE("client ignores replies that do not match", "[client]") {
  std::string name = dns::instance_name(key_n(1), zone);
  SECTION("wrong ID first, then the right one") {
    ScriptedDns dns([&](const auto& q, bool, unsigned) {
      auto wrong = good(q, name)[0].bytes;
      wrong[0] ^= 0xff;
      return std::vector<Send>{{wrong}, good(q, name)[0]};
    });
    Setup s(dns.port());
    CHECK(s.run().peers[0].outcome == client::Outcome::updated);
  }
  SECTION("a reply about another question is never used") {
    ScriptedDns dns([&](const auto& q, bool, unsigned) {
      auto r = good(q, name)[0].bytes;
      r[13] ^= 0x20 ^ 0x01;  // a different letter, not just another case
      return std::vector<Send>{{r}};
    });
    Setup s(dns.port());
    const auto report = s.run();
    CHECK(report.peers[0].outcome == client::Outcome::lookup_failed);
    CHECK_THAT(report.peers[0].message, Catch::Contains("no reply from 127.0.0.1:"));
    CHECK(report.exit_code() == 2);
    CHECK(s.backend.applied().empty());
    CHECK(dns.queries() == 3);  // first attempt and two retries
  }
  SECTION("a reply from another address is never used") {
    ScriptedDns dns([&](const auto& q, bool, unsigned) { return std::vector<Send>{{good(q, name)[0].bytes, true}}; });
    Setup s(dns.port());
    CHECK(s.run().peers[0].outcome == client::Outcome::lookup_failed);
    CHECK(s.backend.applied().empty());
  }
  SECTION("a reply without QR is not a reply") {
    ScriptedDns dns([&](const auto& q, bool, unsigned) {
      auto r = good(q, name)[0].bytes;
      r[2] &= 0x7f;
      return std::vector<Send>{{r}};
    });
    Setup s(dns.port());
    CHECK(s.run().peers[0].outcome == client::Outcome::lookup_failed);
  }
  SECTION("garbage with our ID and question, then nothing") {
    ScriptedDns dns([&](const auto& q, bool, unsigned) {
      auto r = q;
      r[2] |= 0x80;
      r[7] = 5;  // five answers that are not there
      r.insert(r.end(), {0xde, 0xad, 0xbe, 0xef});
      return std::vector<Send>{{r}};
    });
    Setup s(dns.port());
    const auto report = s.run();
    CHECK(report.peers[0].outcome == client::Outcome::lookup_failed);
    CHECK_THAT(report.peers[0].message, Catch::Contains("unparsable reply"));
    CHECK(s.backend.applied().empty());
  }
  SECTION("a compression loop in the answer") {
    ScriptedDns dns([&](const auto& q, bool, unsigned) {
      auto r = q;
      r.resize(r.size() - 11);  // drop the OPT
      r[2] |= 0x80;
      r[7] = 1;                 // one answer
      r[11] = 0;
      const std::size_t here = r.size();
      r.push_back(static_cast<std::uint8_t>(0xc0 | (here >> 8)));  // a pointer to itself
      r.push_back(static_cast<std::uint8_t>(here & 0xff));
      r.insert(r.end(), {0, 33, 0, 1, 0, 0, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0});
      return std::vector<Send>{{r}};
    });
    Setup s(dns.port());
    CHECK(s.run().peers[0].outcome == client::Outcome::lookup_failed);
    CHECK(s.backend.applied().empty());
  }
}

TEST_CASE("client follows the registry's shape of answer", "[client]") {
  std::string name = dns::instance_name(key_n(1), zone);
  SECTION("SRV without glue: A asked for the target") {
    ScriptedDns dns([&](const auto& q, bool, unsigned) {
      if (qtype_of(q) == LDNS_RR_TYPE_SRV) return std::vector<Send>{{reply_to(q, LDNS_RCODE_NOERROR, srv(name, 40001))}};
      if (qtype_of(q) == LDNS_RR_TYPE_A) return std::vector<Send>{{reply_to(q, LDNS_RCODE_NOERROR, {name + " 0 IN A 198.51.100.8"})}};
      return std::vector<Send>{};
    });
    Setup s(dns.port());
    CHECK(s.run().peers[0].outcome == client::Outcome::updated);
    CHECK(s.endpoint()->to_string() == "198.51.100.8:40001");
  }
  SECTION("glue for another name is not used; AAAA after an empty A") {
    ScriptedDns dns([&](const auto& q, bool, unsigned) {
      if (qtype_of(q) == LDNS_RR_TYPE_SRV) {
        return std::vector<Send>{{reply_to(q, LDNS_RCODE_NOERROR, srv(name, 40001), {"evil.example.com. 0 IN A 192.0.2.66"})}};
      }
      if (qtype_of(q) == LDNS_RR_TYPE_A) return std::vector<Send>{{reply_to(q, LDNS_RCODE_NOERROR, {"evil.example.com. 0 IN A 192.0.2.66"})}};
      return std::vector<Send>{{reply_to(q, LDNS_RCODE_NOERROR, {name + " 0 IN AAAA 2001:db8::8"})}};
    });
    Setup s(dns.port());
    CHECK(s.run().peers[0].outcome == client::Outcome::updated);
    CHECK(s.endpoint()->to_string() == "[2001:db8::8]:40001");
  }
  SECTION("no address anywhere") {
    ScriptedDns dns([&](const auto& q, bool, unsigned) {
      if (qtype_of(q) == LDNS_RR_TYPE_SRV) return std::vector<Send>{{reply_to(q, LDNS_RCODE_NOERROR, srv(name, 40001))}};
      return std::vector<Send>{{reply_to(q, LDNS_RCODE_NOERROR, {})}};
    });
    Setup s(dns.port());
    const auto report = s.run();
    CHECK(report.peers[0].outcome == client::Outcome::lookup_failed);
    CHECK_THAT(report.peers[0].message, Catch::Contains("has no address"));
  }
  SECTION("TC over UDP, then the whole answer over TCP") {
    ScriptedDns dns([&](const auto& q, bool tcp, unsigned) {
      if (!tcp) return std::vector<Send>{{reply_to(q, LDNS_RCODE_NOERROR, {}, {}, true)}};
      return good(q, name);
    });
    Setup s(dns.port());
    CHECK(s.run().peers[0].outcome == client::Outcome::updated);
    CHECK(dns.queries() == 2);
  }
  SECTION("over TCP, a length prefix split across reads") {
    ScriptedDns dns([&](const auto& q, bool tcp, unsigned) {
      if (!tcp) return std::vector<Send>{{reply_to(q, LDNS_RCODE_NOERROR, {}, {}, true)}};
      auto reply = good(q, name);
      reply[0].split_tcp_prefix = true;
      return reply;
    });
    Setup s(dns.port());
    CHECK(s.run().peers[0].outcome == client::Outcome::updated);
    CHECK(s.endpoint()->to_string() == "198.51.100.7:40001");
  }
  SECTION("over TCP, a reply that does not match is a failure, never used") {
    ScriptedDns dns([&](const auto& q, bool tcp, unsigned) {
      if (!tcp) return std::vector<Send>{{reply_to(q, LDNS_RCODE_NOERROR, {}, {}, true)}};
      auto reply = good(q, name);
      reply[0].bytes[0] ^= 0xff;  // another ID
      return reply;
    });
    Setup s(dns.port());
    const auto report = s.run();
    CHECK(report.peers[0].outcome == client::Outcome::lookup_failed);
    CHECK_THAT(report.peers[0].message, Catch::Contains("TCP 127.0.0.1:" + std::to_string(dns.port()) + ": reply does not match the query"));
    CHECK(s.backend.applied().empty());
  }
  SECTION("SRV port 0 is an error") {
    ScriptedDns dns([&](const auto& q, bool, unsigned) {
      return std::vector<Send>{{reply_to(q, LDNS_RCODE_NOERROR, srv(name, 0), {name + " 0 IN A 198.51.100.7"})}};
    });
    Setup s(dns.port());
    const auto report = s.run();
    CHECK(report.peers[0].outcome == client::Outcome::lookup_failed);
    CHECK_THAT(report.peers[0].message, Catch::Contains("SRV port is 0"));
    CHECK(s.backend.applied().empty());
  }
  SECTION("NXDOMAIN: not known, not an error") {
    ScriptedDns dns([&](const auto& q, bool, unsigned) { return std::vector<Send>{{reply_to(q, LDNS_RCODE_NXDOMAIN, {})}}; });
    Setup s(dns.port());
    const auto report = s.run();
    CHECK(report.peers[0].outcome == client::Outcome::unknown);
    CHECK(report.exit_code() == 0);
  }
  SECTION("SERVFAIL is a failed lookup") {
    ScriptedDns dns([&](const auto& q, bool, unsigned) { return std::vector<Send>{{reply_to(q, LDNS_RCODE_SERVFAIL, {})}}; });
    Setup s(dns.port());
    const auto report = s.run();
    CHECK(report.peers[0].outcome == client::Outcome::lookup_failed);
    CHECK_THAT(report.peers[0].message, Catch::Contains("registry answered SERVFAIL"));
  }
  SECTION("timeouts, then an answer on the last retry") {
    ScriptedDns dns([&](const auto& q, bool, unsigned n) { return n < 3 ? std::vector<Send>{} : good(q, name); });
    Setup s(dns.port());
    CHECK(s.run().peers[0].outcome == client::Outcome::updated);
  }
}

TEST_CASE("client leaves working tunnels alone and obeys its flags", "[client]") {
  std::string name = dns::instance_name(key_n(1), zone);
  ScriptedDns dns([&](const auto& q, bool, unsigned) { return good(q, name); });
  Setup s(dns.port());
  SECTION("a fresh handshake is not disturbed, --force overrides") {
    auto d = s.backend.get_device("wgc0");
    d.peers[0].last_handshake = wg::Clock::now() - std::chrono::seconds(10);
    d.peers[0].endpoint = wg::Endpoint::parse("192.0.2.1:1");
    s.backend.put(d);
    CHECK(s.run().peers[0].outcome == client::Outcome::fresh);
    CHECK(dns.queries() == 0);
    s.options.force = true;
    CHECK(s.run().peers[0].outcome == client::Outcome::updated);
  }
  SECTION("--skip") {
    s.options.skip.push_back(s.peer);
    CHECK(s.run().peers[0].outcome == client::Outcome::skipped);
    CHECK(dns.queries() == 0);
  }
  SECTION("--dry-run changes nothing") {
    s.options.dry_run = true;
    const auto report = s.run();
    CHECK(report.peers[0].outcome == client::Outcome::updated);
    CHECK_THAT(report.peers[0].message, Catch::Contains("would set endpoint 198.51.100.7:40001 (was none)"));
    CHECK(s.backend.applied().empty());
  }
  SECTION("a missing device is exit 3") {
    s.options.device = "wgnone";
    const auto report = s.run();
    CHECK(report.exit_code() == 3);
    std::ostringstream out;
    client::print_messages(report, false, out);
    CHECK(out.str() == "wgsd-client: device 'wgnone': no such device 'wgnone'\n");
  }
  SECTION("a device that refuses the write is exit 3") {
    s.backend.get_device("wgc0");
    auto report = [&] {
      // Fail the write, not the read: the read happens first.
      struct Failing : wg::Backend {
        FakeBackend& inner;
        explicit Failing(FakeBackend& b) : inner(b) {}
        wg::Device get_device(const std::string& n) override { return inner.get_device(n); }
        void apply(const wg::DeviceUpdate&) override { throw wg::Error(std::errc::permission_denied, "uapi: set device 'wgc0': Permission denied"); }
      } failing(s.backend);
      return client::run_once(s.options, failing);
    }();
    CHECK(report.peers[0].outcome == client::Outcome::write_failed);
    CHECK(report.exit_code() == 3);
  }
  SECTION("the JSON report lists every peer") {
    std::ostringstream out;
    client::print_json(s.run(), false, out);
    CHECK_THAT(out.str(), Catch::Contains("\"outcome\":\"updated\",\"endpoint\":\"198.51.100.7:40001\",\"handshake\":5"));
    CHECK_THAT(out.str(), Catch::StartsWith("{\"device\":\"wgc0\",\"dry_run\":false,\"exit_code\":0,\"peers\":[{\"public_key\":\""));
  }
}

TEST_CASE("several registries: the freshest handshake wins", "[client]") {
  std::string name = dns::instance_name(key_n(1), zone);
  auto answer = [&](const char* ip, int handshake) {
    return [&, ip, handshake](const auto& q, bool, unsigned) {
      return std::vector<Send>{{reply_to(q, LDNS_RCODE_NOERROR, srv(name, 40001),
                                         {name + " 0 IN A " + ip, name + " 0 IN TXT \"txtvers=1\" \"handshake=" + std::to_string(handshake) + "\""})}};
    };
  };
  ScriptedDns older(answer("192.0.2.1", 100));
  ScriptedDns newer(answer("192.0.2.2", 200));
  ScriptedDns silent([](const auto&, bool, unsigned) { return std::vector<Send>{}; });
  Setup s(older.port());
  s.options.registries.push_back({*wg::IpAddress::parse("127.0.0.1"), silent.port()});
  s.options.registries.push_back({*wg::IpAddress::parse("127.0.0.1"), newer.port()});
  const auto report = s.run();
  CHECK(report.peers[0].outcome == client::Outcome::updated);
  CHECK(s.endpoint()->to_string() == "192.0.2.2:40001");
  CHECK(report.exit_code() == 0);
}

TEST_CASE("reply matching requires the question in the exact case asked", "[client]") {
  std::uint16_t id = 0;
  const auto q = client::build_query("abc.example.com.", 33, id);
  auto r = q;
  r[2] |= 0x80;
  CHECK(client::reply_matches(q, r.data(), r.size()));
  r[13] ^= 0x20;  // 'a' in the other case: a reply that did not see our query
  CHECK_FALSE(client::reply_matches(q, r.data(), r.size()));
  r[13] = 'x';
  CHECK_FALSE(client::reply_matches(q, r.data(), r.size()));
  CHECK_FALSE(client::reply_matches(q, q.data(), q.size()));  // no QR
  CHECK_FALSE(client::reply_matches(q, r.data(), 11));
}
