// wgsd-client --roam as a round over a FakeBackend: two other servers' registries (scripted, on
// 127.0.0.2 and 127.0.0.3) answer each client's TXT handshake=; the backbone peers whose allowed
// IPs hold those addresses are the servers. What moves where, what is never touched, the clock.
#include <catch2/catch.hpp>

#include <ctime>
#include <map>
#include <mutex>

#include "client/roam.hpp"
#include "client/roam_case.hpp"
#include "client/scripted_dns.hpp"
#include "dns/fixtures.hpp"
#include "dns/responder.hpp"
#include "support/fake_backend.hpp"
#include "support/keys.hpp"
#include "support/lab.hpp"

using namespace wgsd;
using namespace wgsd::test;
using namespace std::chrono_literals;


TEST_CASE("roam: a client goes where its freshest handshake is, and comes back", "[client][roam]") {
  RoamCase c;
  c.r2.set(1, now() - 10);  // client 1 lives at server 2
  c.r3.set(1, now() - 50);
  c.r2.set(2, now() - 60);  // client 2 lives here
  auto r = c.round();
  INFO(r.error);
  CHECK(r.exit_code() == 0);
  CHECK(c.allowed_of(server2) == Strings{"127.0.0.2/32", "10.100.0.1/32"});
  CHECK(c.allowed_of(server3) == Strings{"127.0.0.3/32", "192.0.2.128/25"});
  CHECK(c.router.routes == std::map<std::string, std::string>{{"10.100.0.1/32", "wgb0"}});
  REQUIRE(r.peers.size() == 1);
  CHECK_THAT(r.peers[0].message, Catch::Contains("lives at 127.0.0.2:") && Catch::Contains("10.100.0.1/32 via backbone peer " + server2.to_base64()));

  // Nothing changed: nothing is written.
  const auto writes = c.backend.applied().size();
  CHECK(c.round().peers.empty());
  CHECK(c.backend.applied().size() == writes);

  // It moves to server 3: its address moves between the backbone peers, the route stays.
  c.r3.set(1, now() - 1);
  c.router.calls.clear();
  c.round();
  CHECK(c.allowed_of(server2) == Strings{"127.0.0.2/32"});
  CHECK(c.allowed_of(server3) == Strings{"127.0.0.3/32", "192.0.2.128/25", "10.100.0.1/32"});
  CHECK(c.router.calls.empty());  // the route goes through the backbone either way: it stays
  CHECK(c.router.routes == std::map<std::string, std::string>{{"10.100.0.1/32", "wgb0"}});

  // It comes here: off the backbone, the route deleted.
  c.local(1, now());
  r = c.round();
  CHECK(c.allowed_of(server3) == Strings{"127.0.0.3/32", "192.0.2.128/25"});
  CHECK(c.router.routes.empty());
  REQUIRE(r.peers.size() == 1);
  CHECK_THAT(r.peers[0].message, Catch::Contains("here (handshake") && Catch::Contains("no longer routed via the backbone"));
  CHECK(c.state.empty());
}

TEST_CASE("roam: a backbone's own addresses are never taken, and what was added is taken back on exit", "[client][roam]") {
  RoamCase c;
  c.r2.set(3, now() - 1);  // client 3's address is server 3's own backbone address
  c.r2.set(1, now() - 1);
  const auto r = c.round();
  CHECK(r.exit_code() == 2);
  bool refused = false;
  for (const auto& p : r.peers) {
    if (p.public_key == key_n(3)) {
      refused = true;
      CHECK_THAT(p.message, Catch::Contains("not routed via the backbone: 127.0.0.3/32 overlaps 127.0.0.3/32 of backbone peer " + server3.to_base64()));
    }
  }
  CHECK(refused);
  CHECK(c.allowed_of(server3) == Strings{"127.0.0.3/32", "192.0.2.128/25"});
  CHECK(c.allowed_of(server2) == Strings{"127.0.0.2/32", "10.100.0.1/32"});
  const auto undone = client::roam_undo(c.options, c.roam, c.state, c.backend, c.router);
  CHECK(undone.exit_code() == 0);
  CHECK(c.allowed_of(server2) == Strings{"127.0.0.2/32"});
  CHECK(c.router.routes.empty());
}

TEST_CASE("roam: a registry whose clock is off by more than --max-skew is not believed, and says so", "[client][roam]") {
  RoamCase c;
  c.r3.set(1, now() + 60);  // a minute in the future
  c.r2.set(1, now() - 200);
  const auto r = c.round();
  REQUIRE_FALSE(r.notes.empty());
  CHECK_THAT(r.notes[0], Catch::Contains("registry 127.0.0.3:") && Catch::Contains("s in the future: its clock is ahead of ours by more than --max-skew 5s"));
  CHECK(c.allowed_of(server3) == Strings{"127.0.0.3/32", "192.0.2.128/25"});
  CHECK(c.router.routes.empty());  // client 1's local handshake (100 s ago) beats server 2's (200 s)
}

TEST_CASE("roam: a registry that fails leaves the clients placed there where they are", "[client][roam]") {
  RoamCase c;
  c.r2.set(1, now() - 1);
  c.round();
  REQUIRE(c.router.routes.size() == 1);
  c.options.registries[0].port = free_port();
  c.options.timeout = 200ms;
  c.options.retries = 0;
  const auto r = c.round();
  CHECK_THAT(r.notes.at(0), Catch::Contains("its handshakes are not known this round"));
  CHECK(c.router.routes.size() == 1);
  CHECK(c.allowed_of(server2) == Strings{"127.0.0.2/32", "10.100.0.1/32"});
}

TEST_CASE("roam: a signed answer gives the registry's clock, and one over --max-skew is not believed", "[client][roam][tsig]") {
  RoamCase c;
  std::string error;
  auto key = dns::tsig::make_key("roam.", "hmac-sha256", "c2VjcmV0LWZvci13Z3NkLXRzaWctdGVzdHMtMzItYnl0ZXM=", error);
  REQUIRE(key);
  c.options.tsig = *key;
  // Server 3's registry, a minute ahead: its own zone says client 1 shook hands a second ago.
  auto z = reference_settings();
  z.settings.zone = "clients.example.";
  z.settings.ns = {{"ns1.clients.example.", {}}};
  z.publish.self.reset();
  wg::Device served;
  served.name = "wgc3";
  served.peers = {peer(key_n(1), {"10.100.0.1/32"}, now() + 59)};
  dns::ZoneSet zones = zone_set(make_zone(z, served, wg::Clock::now(), nullptr));
  auto policy = std::make_shared<dns::tsig::Policy>();
  dns::tsig::Rule rule;
  rule.keys.push_back(*key);
  policy->rules.push_back(rule);
  zones.tsig = policy;
  const std::int64_t ahead = 60;
  ScriptedDns signed_registry([&](const std::vector<std::uint8_t>& q, bool, unsigned) {
    dns::QueryContext ctx;
    ctx.now = static_cast<std::uint64_t>(now() + ahead);
    return std::vector<ScriptedDns::Send>{{dns::respond(q, zones, ctx)}};
  }, 0, 0x7f000003);
  c.options.registries = {{*wg::IpAddress::parse("127.0.0.3"), signed_registry.port()}};
  auto r = c.round();
  REQUIRE_FALSE(r.notes.empty());
  CHECK_THAT(r.notes[0], Catch::Contains("registry 127.0.0.3:") && Catch::Contains(" s ahead of ours, over --max-skew 5s"));
  CHECK(c.router.routes.empty());
  // Within --max-skew it is believed: client 1 goes to server 3.
  c.roam.max_skew = std::chrono::seconds(120);
  r = c.round();
  CHECK(r.notes.empty());
  CHECK(c.router.routes == std::map<std::string, std::string>{{"10.100.0.1/32", "wgb0"}});
}

TEST_CASE("roam: a dry run changes nothing and remembers nothing", "[client][roam]") {
  RoamCase c;
  c.r2.set(1, now() - 1);
  c.options.dry_run = true;
  const auto writes = c.backend.applied().size();
  const auto r = c.round();
  REQUIRE(r.peers.size() == 1);
  CHECK_THAT(r.peers[0].message, Catch::Contains("lives at 127.0.0.2:"));
  CHECK(c.backend.applied().size() == writes);
  CHECK(c.router.routes.empty());
  CHECK(c.state.empty());
}

TEST_CASE("wgsd-client --roam: --backbone and --interval are required, and it does not mix with --sync", "[client][roam]") {
  TempDir dir;
  const auto run = [&](const std::string& args, std::string& out) {
    const int rc = sh(std::string(WGSD_CLIENT_BIN) + " --device wgc0 --dns 127.0.0.2:53 --zone clients.example. " + args + " >" + dir.path() + "/out 2>&1");
    out = sh_out("cat " + dir.path() + "/out");
    return rc;
  };
  std::string out;
  CHECK(run("--roam --interval 2s", out) == 1);
  CHECK_THAT(out, Catch::Contains("--backbone: --roam needs the device whose peers are the other servers"));
  CHECK(run("--roam --backbone wgb0 --insecure", out) == 1);
  CHECK_THAT(out, Catch::Contains("--roam: needs --interval"));
  CHECK(run("--backbone wgb0", out) == 1);
  CHECK_THAT(out, Catch::Contains("--backbone: only works with --roam"));
  CHECK(run("--roam --backbone wgb0 --interval 2s --max-skew soon", out) == 1);
  CHECK_THAT(out, Catch::Contains("--max-skew: expected a duration from 0s to 1h, got 'soon'"));
  CHECK(run("--roam --backbone wgb0 --interval 2s --sync --insecure --allowed-within 10.0.0.0/8 --state " + dir.path() + "/s", out) == 1);
  CHECK_THAT(out, Catch::Contains("--roam and --sync are for different devices"));
}

TEST_CASE("wgsd-client --roam: without a TSIG key it is refused unless --insecure, which warns once that skew is not measured",
          "[client][roam][tsig]") {
  TempDir dir;
  const auto run = [&](const std::string& args, std::string& out) {
    const int rc = sh("timeout -s TERM 3 " + std::string(WGSD_CLIENT_BIN) + " --device wgsdnodev0 --dns 127.0.0.2:53 --zone clients.example. " +
                      args + " >" + dir.path() + "/out 2>&1");
    out = sh_out("cat " + dir.path() + "/out");
    return rc;
  };
  std::string out;
  CHECK(run("--roam --backbone wgb0 --interval 1s", out) == 1);
  CHECK_THAT(out, Catch::Contains("--roam: without a TSIG key (-y or -k)") && Catch::Contains("--insecure"));
  run("--roam --backbone wgb0 --interval 1s --insecure --state " + dir.path() + "/roam", out);  // runs (against no device) until stopped
  const std::string warning = "roam: without TSIG the other servers' clocks cannot be measured";
  REQUIRE_THAT(out, Catch::Contains(warning));
  CHECK(out.find(warning) == out.rfind(warning));
}

TEST_CASE("wgsd-client --max-prune only works with --sync --prune", "[client][sync]") {
  TempDir dir;
  std::string out;
  const auto run = [&](const std::string& args) {
    const int rc = sh(std::string(WGSD_CLIENT_BIN) + " --device wgc0 --dns 127.0.0.1:1 --zone example.com. " + args + " >" + dir.path() + "/out 2>&1");
    out = sh_out("cat " + dir.path() + "/out");
    return rc;
  };
  CHECK(run("--max-prune 20%") == 1);
  CHECK_THAT(out, Catch::Contains("--max-prune: only works with --sync"));
  CHECK(run("--sync --insecure --allowed-within 10.8.0.0/16 --max-prune 20% --state " + dir.path() + "/s") == 1);
  CHECK_THAT(out, Catch::Contains("--max-prune: only works with --sync --prune"));
}
