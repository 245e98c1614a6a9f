// wgsd-client --sync against a wgsd-server in the test's process: a master device with `list-all`
// behind TSIG (`require all`, `fudge 5`), and a client device in a FakeBackend. What is added, what
// is refused and why, what is pruned and when, and what is never touched.
#include <catch2/catch.hpp>

#include <ctime>
#include <fstream>
#include <thread>

#include "client/resolver.hpp"
#include "client/sync.hpp"
#include "dns/fixtures.hpp"
#include "dns/responder.hpp"
#include "support/keys.hpp"
#include "support/lab.hpp"
#include "support/serving.hpp"
#include "support/tsig_key.hpp"

using namespace wgsd;
using namespace wgsd::test;
using namespace std::chrono_literals;

namespace {

wg::Peer peer(unsigned n, const char* endpoint, std::vector<const char*> allowed) {
  wg::Peer p;
  p.public_key = key_n(n);
  if (endpoint != nullptr) p.endpoint = wg::Endpoint::parse(endpoint);
  for (const char* a : allowed) p.allowed_ips.push_back(*wg::Prefix::parse(a));
  return p;
}

// The master: 1 has an endpoint, 2 never connected, 3 is the client's own key, 4 lies outside
// --allowed-within, 5 overlaps a peer the client already has.
wg::Device master() {
  wg::Device d;
  d.name = "wgm0";
  d.public_key = key_n(100);
  d.peers = {peer(1, "198.51.100.1:10001", {"10.8.0.1/32"}), peer(2, nullptr, {"10.8.0.2/32", "fd08::2/128"}),
             peer(3, nullptr, {"10.8.0.3/32"}), peer(4, nullptr, {"10.9.0.4/32"}), peer(5, nullptr, {"10.8.1.0/24"})};
  return d;
}

wg::Device client_device() {
  wg::Device d;
  d.name = "wgc0";
  d.public_key = key_n(3);
  d.peers = {peer(50, "203.0.113.50:50", {"10.8.1.5/32"})};
  return d;
}

struct SyncCase {
  std::uint16_t port = free_port();
  Serving registry{"example.com:" + std::to_string(port) +
                       " {\n bind 127.0.0.1\n wgsd example.com. wgm0 {\n  list-all\n  refresh 20ms\n  ns ns.example.\n }\n"
                       " tsig {\n  secret key.example. " + test_tsig_secret + "\n  require all\n  fudge 5\n }\n}\n",
                   {master()}};
  FakeBackend device;
  client::Options options;
  client::SyncOptions sync;
  client::SyncState state;

  SyncCase() {
    device.put(client_device());
    options.device = "wgc0";
    options.registries = {{*wg::IpAddress::parse("127.0.0.1"), port}};
    options.zone = "example.com.";
    options.timeout = 1000ms;
    options.retries = 1;
    options.tsig = test_tsig_key();
    sync.allowed_within = {*wg::Prefix::parse("10.8.0.0/16"), *wg::Prefix::parse("fd08::/64")};
    sync.keepalive = 25;
    sync.prune = true;
    sync.min_confirm = 0s;  // rounds follow each other at once here; the wait has its own test
  }

  client::SyncReport round() { return client::sync_once(options, sync, state, device); }
  client::SyncReport round_with(const client::Options& o) { return client::sync_once(o, sync, state, device); }

  // Changes the master's device and waits until a listing shows `listed` peers.
  void master_peers(std::vector<wg::Peer> peers) {
    auto m = master();
    m.peers = std::move(peers);
    const auto expected = m.peers.size();
    registry.backend.put(m);
    auto look = options;
    look.dry_run = true;
    REQUIRE(eventually([&] {
      auto copy = state;
      return client::sync_once(look, sync, copy, device).listed == expected;
    }, 5s));
  }

  const wg::Peer* on_device(unsigned n) {
    static thread_local wg::Device d;
    d = device.get_device("wgc0");
    for (const auto& p : d.peers) {
      if (p.public_key == key_n(n)) return &p;
    }
    return nullptr;
  }

  const client::SyncPeer* entry(const client::SyncReport& r, unsigned n) {
    for (const auto& p : r.peers) {
      if (p.public_key == key_n(n)) return &p;
    }
    return nullptr;
  }
};

std::vector<wg::Prefix> prefixes(std::vector<const char*> text) {
  std::vector<wg::Prefix> out;
  for (const char* t : text) out.push_back(*wg::Prefix::parse(t));
  return out;
}

}  // namespace

TEST_CASE("sync adds the listed peers the device lacks: key, TXT allowed IPs, SRV endpoint, keepalive", "[client][sync]") {
  SyncCase c;
  const auto r = c.round();
  INFO(r.error);
  CHECK(r.listed == 5);
  REQUIRE(c.on_device(1) != nullptr);
  CHECK(c.on_device(1)->endpoint == wg::Endpoint::parse("198.51.100.1:10001"));
  CHECK(c.on_device(1)->allowed_ips == prefixes({"10.8.0.1/32"}));
  CHECK(c.on_device(1)->persistent_keepalive == 25);
  REQUIRE(c.on_device(2) != nullptr);  // never connected: listed by list-all, added without an endpoint
  CHECK_FALSE(c.on_device(2)->endpoint);
  CHECK(c.on_device(2)->allowed_ips == prefixes({"10.8.0.2/32", "fd08::2/128"}));
  CHECK(c.on_device(3) == nullptr);  // the device's own key
  CHECK(c.entry(r, 3) == nullptr);
  CHECK(c.on_device(4) == nullptr);
  REQUIRE(c.entry(r, 4) != nullptr);
  CHECK(c.entry(r, 4)->outcome == client::SyncOutcome::refused);
  CHECK_THAT(c.entry(r, 4)->message, Catch::Contains("allowed IP 10.9.0.4/32 is outside --allowed-within 10.8.0.0/16,fd08::/64"));
  CHECK(c.on_device(5) == nullptr);
  REQUIRE(c.entry(r, 5) != nullptr);
  CHECK_THAT(c.entry(r, 5)->message, Catch::Contains("allowed IP 10.8.1.0/24 overlaps 10.8.1.5/32 of peer " + key_n(50).to_base64()));
  // The peer the client had keeps its route.
  REQUIRE(c.on_device(50) != nullptr);
  CHECK(c.on_device(50)->allowed_ips == prefixes({"10.8.1.5/32"}));
  CHECK(c.state.added == std::set<wg::Key>{key_n(1), key_n(2)});
  CHECK(r.exit_code() == 2);  // refusals are reported

  // A second round finds nothing more to add.
  const auto again = c.round();
  CHECK(std::none_of(again.peers.begin(), again.peers.end(), [](const auto& p) { return p.outcome == client::SyncOutcome::added; }));
}

TEST_CASE("sync: a batch the device applied in part reports each peer as the device has it", "[client][sync]") {
  SyncCase c;
  c.device.fail_next_apply_after(1, std::errc::no_buffer_space);
  const auto r = c.round();
  INFO(r.error);
  const unsigned first = c.on_device(1) != nullptr ? 1 : 2;  // whichever the batch held first
  const unsigned second = 3 - first;
  REQUIRE(c.on_device(first) != nullptr);
  CHECK(c.on_device(second) == nullptr);
  REQUIRE(c.entry(r, first) != nullptr);
  CHECK(c.entry(r, first)->outcome == client::SyncOutcome::added);
  CHECK_THAT(c.entry(r, first)->message, Catch::Contains("the rest of its batch failed"));
  REQUIRE(c.entry(r, second) != nullptr);
  CHECK(c.entry(r, second)->outcome == client::SyncOutcome::write_failed);
  CHECK(c.state.added.count(key_n(first)) == 1);  // ours, so a later prune may take it back

  // The next round adds the one that failed, and only that one.
  const auto again = c.round();
  CHECK(c.on_device(second) != nullptr);
  REQUIRE(c.entry(again, second) != nullptr);
  CHECK(c.entry(again, second)->outcome == client::SyncOutcome::added);
  CHECK(c.entry(again, first) == nullptr);
}

TEST_CASE("sync: a listed peer whose TXT gives no allowed IPs is refused, not added with none", "[client][sync]") {
  SyncCase c;
  auto m = master();
  m.peers.push_back(peer(8, "198.51.100.8:10008", {}));
  c.master_peers(m.peers);
  const auto r = c.round();
  CHECK(c.on_device(8) == nullptr);
  REQUIRE(c.entry(r, 8) != nullptr);
  CHECK(c.entry(r, 8)->outcome == client::SyncOutcome::refused);
  CHECK_THAT(c.entry(r, 8)->message, Catch::Contains("its TXT gives no allowed IPs (no allowed=)"));
  CHECK(c.on_device(1) != nullptr);
}

TEST_CASE("sync --prune removes only what it added, and a large prune waits for a second round", "[client][sync]") {
  SyncCase c;
  auto m = master();
  m.peers.push_back(peer(6, nullptr, {"10.8.0.6/32"}));
  m.peers.push_back(peer(7, nullptr, {"10.8.0.7/32"}));
  c.master_peers(m.peers);
  c.round();
  REQUIRE(c.state.added == std::set<wg::Key>{key_n(1), key_n(2), key_n(6), key_n(7)});

  SECTION("one key removed on the master: held for a round (1 of 4 is over 10%), then removed") {
    auto fewer = m.peers;
    fewer.erase(fewer.begin());  // key 1
    c.master_peers(fewer);
    auto r = c.round();
    REQUIRE(c.entry(r, 1) != nullptr);
    CHECK(c.entry(r, 1)->outcome == client::SyncOutcome::held);
    CHECK(c.on_device(1) != nullptr);
    r = c.round();
    REQUIRE(c.entry(r, 1) != nullptr);
    CHECK(c.entry(r, 1)->outcome == client::SyncOutcome::pruned);
    CHECK(c.on_device(1) == nullptr);
    CHECK(c.state.added == std::set<wg::Key>{key_n(2), key_n(6), key_n(7)});
    CHECK(c.on_device(50) != nullptr);  // never listed, never added by sync: never removed
  }
  SECTION("with --max-prune 50% a single removal goes at once") {
    c.sync.max_prune = 0.5;
    auto fewer = m.peers;
    fewer.erase(fewer.begin());
    c.master_peers(fewer);
    const auto r = c.round();
    REQUIRE(c.entry(r, 1) != nullptr);
    CHECK(c.entry(r, 1)->outcome == client::SyncOutcome::pruned);
    CHECK(c.on_device(1) == nullptr);
  }
  SECTION("a listing that suddenly returns zero peers removes nothing in the first round") {
    c.master_peers({});
    const auto r = c.round();
    CHECK(r.listed == 0);
    for (unsigned n : {1u, 2u, 6u, 7u}) {
      CHECK(c.on_device(n) != nullptr);
      REQUIRE(c.entry(r, n) != nullptr);
      CHECK(c.entry(r, n)->outcome == client::SyncOutcome::held);
    }
    // The registry comes back: the next round confirms nothing, and forgets what it held.
    c.master_peers(m.peers);
    const auto back = c.round();
    CHECK(std::none_of(back.peers.begin(), back.peers.end(), [](const auto& p) { return p.outcome == client::SyncOutcome::pruned; }));
    CHECK(c.state.held.empty());
    CHECK(c.device.get_device("wgc0").peers.size() == 5);
  }
}

TEST_CASE("sync --max-prune: a hold is confirmed only by a consecutive whole round at least the minimum time later", "[client][sync]") {
  SyncCase c;
  c.sync.min_confirm = 1s;
  c.round();
  REQUIRE(c.state.added == std::set<wg::Key>{key_n(1), key_n(2)});
  c.master_peers({});  // both gone: over 10%, held
  auto r = c.round();
  REQUIRE(c.entry(r, 1) != nullptr);
  CHECK(c.entry(r, 1)->outcome == client::SyncOutcome::held);
  // At once again: too soon to confirm, still held.
  r = c.round();
  REQUIRE(c.entry(r, 1) != nullptr);
  CHECK(c.entry(r, 1)->outcome == client::SyncOutcome::held);
  CHECK(c.on_device(1) != nullptr);
  // A round whose listing fails in between: the hold is released, and the wait starts again.
  std::this_thread::sleep_for(1100ms);
  auto broken = c.options;
  broken.tsig.reset();  // the registry refuses: no listing
  CHECK(c.round_with(broken).listing_failed);
  CHECK(c.state.held.empty());
  r = c.round();
  CHECK(c.entry(r, 1)->outcome == client::SyncOutcome::held);
  CHECK(c.on_device(1) != nullptr);
  // The minimum time after that hold: confirmed.
  std::this_thread::sleep_for(1100ms);
  r = c.round();
  REQUIRE(c.entry(r, 1) != nullptr);
  CHECK(c.entry(r, 1)->outcome == client::SyncOutcome::pruned);
  CHECK(c.on_device(1) == nullptr);
  CHECK(c.on_device(2) == nullptr);
}

TEST_CASE("sync: a listing that fails or is incomplete adds what it can and prunes nothing", "[client][sync]") {
  SyncCase c;
  c.round();
  REQUIRE(c.state.added.size() == 2);
  c.master_peers({});  // were the listing trusted, 1 and 2 would be held now

  SECTION("unsigned: the registry refuses, nothing changes") {
    c.options.tsig.reset();
    const auto r = c.round();
    CHECK(r.listing_failed);
    CHECK_THAT(r.notes.at(0), Catch::Contains("REFUSED"));
    CHECK(r.exit_code() == 2);
  }
  SECTION("a second registry that does not answer: the listing is incomplete") {
    c.options.registries.push_back({*wg::IpAddress::parse("127.0.0.1"), free_port()});
    c.options.timeout = 300ms;
    c.options.retries = 0;
    const auto r = c.round();
    CHECK_FALSE(r.listing_failed);
    CHECK(std::any_of(r.notes.begin(), r.notes.end(), [](const auto& n) { return n.find("nothing is pruned") != std::string::npos; }));
    CHECK(r.peers.empty());
  }
  CHECK(c.state.held.empty());
  CHECK(c.on_device(1) != nullptr);
  CHECK(c.on_device(2) != nullptr);
}

TEST_CASE("reply TSIG check: a signed answer read past the registry's fudge of 5 s is BADTIME, one chained to another query BADSIG",
          "[client][sync][tsig]") {
  // The verifier alone, with the clock in the test's hand. sync_replay_test.cpp replays a recorded
  // answer through the whole listing path.
  // The registry's answer to a signed listing query, signed with its fudge of 5 s, read 6 s later.
  const auto k = test_tsig_key();
  dns::ZoneSet zones = reference_zones();
  auto policy = std::make_shared<dns::tsig::Policy>();
  dns::tsig::Rule rule;
  rule.keys.push_back(k);
  rule.fudge = 5;
  policy->rules.push_back(rule);
  zones.tsig = policy;
  const auto now = static_cast<std::uint64_t>(std::time(nullptr));
  std::uint16_t id = 0;
  auto q = client::build_query("_wireguard._udp.example.com.", 12, id);
  const auto mac = client::sign_query(q, k, now);
  dns::QueryContext ctx;
  ctx.now = now;
  const auto answer = dns::respond(q, zones, ctx);
  CHECK(client::check_reply_tsig(answer, k, mac, now + 5) == "");
  CHECK_THAT(client::check_reply_tsig(answer, k, mac, now + 6), Catch::Contains("6 s old, outside its fudge of 5 s (BADTIME; clock skew or a replay)"));
  // Replayed to a later query, it is refused whatever its time: its MAC chains the old query.
  auto later = client::build_query("_wireguard._udp.example.com.", 12, id);
  const auto later_mac = client::sign_query(later, k, now);
  CHECK_THAT(client::check_reply_tsig(answer, k, later_mac, now), Catch::Contains("BADSIG"));
}

TEST_CASE("sync state file: what was added and what is held is read back, and a bad line is named", "[client][sync]") {
  TempDir dir;
  const std::string path = dir.path() + "/sub/wg0.sync";
  CHECK(client::SyncState::load(path) == client::SyncState{});  // none yet: empty
  client::SyncState s;
  s.added = {key_n(1), key_n(2)};
  s.held = {key_n(2)};
  s.save(path);  // creates the directory
  CHECK(client::SyncState::load(path) == s);
  std::ofstream(path, std::ios::app) << "added not-a-key\n";
  CHECK_THROWS_WITH(client::SyncState::load(path), Catch::Contains(path + ":6: expected 'added KEY' or 'held KEY', got 'added not-a-key'"));
}

TEST_CASE("prefix containment and overlap for --allowed-within and stolen routes", "[client][sync]") {
  const auto p = [](const char* t) { return *wg::Prefix::parse(t); };
  CHECK(client::prefix_within(p("10.8.0.1/32"), p("10.8.0.0/16")));
  CHECK(client::prefix_within(p("10.8.0.0/16"), p("10.8.0.0/16")));
  CHECK_FALSE(client::prefix_within(p("10.8.0.0/15"), p("10.8.0.0/16")));
  CHECK_FALSE(client::prefix_within(p("10.9.0.1/32"), p("10.8.0.0/16")));
  CHECK_FALSE(client::prefix_within(p("::ffff:10.8.0.1/128"), p("10.8.0.0/16")));
  CHECK(client::prefixes_overlap(p("10.8.1.0/24"), p("10.8.1.5/32")));
  CHECK(client::prefixes_overlap(p("0.0.0.0/0"), p("10.8.1.5/32")));
  CHECK_FALSE(client::prefixes_overlap(p("10.8.2.0/24"), p("10.8.1.5/32")));
  CHECK_FALSE(client::prefixes_overlap(p("fd08::/64"), p("10.8.1.5/32")));
}

TEST_CASE("wgsd-client --sync: --allowed-within and a TSIG key are required, its flags need --sync", "[client][sync]") {
  TempDir dir;
  const auto run = [&](const std::string& args, std::string& out) {
    const int rc = sh(std::string(WGSD_CLIENT_BIN) + " --device wgc0 --dns 127.0.0.1:1 --zone example.com. " + args + " >" + dir.path() + "/out 2>&1");
    out = sh_out("cat " + dir.path() + "/out");
    return rc;
  };
  std::string out;
  CHECK(run("--sync -y key.example.:" + std::string(test_tsig_secret), out) == 1);
  CHECK_THAT(out, Catch::Contains("--allowed-within") && Catch::Contains("e.g. --allowed-within 10.8.0.0/16"));
  CHECK(run("--sync --allowed-within 10.8.0.0/16", out) == 1);
  CHECK_THAT(out, Catch::Contains("without a TSIG key (-y or -k)") && Catch::Contains("--insecure"));
  CHECK(run("--sync --insecure --allowed-within 10.8.0.1/16", out) == 1);
  CHECK_THAT(out, Catch::Contains("'10.8.0.1/16' has host bits set: did you mean 10.8.0.0/16?"));
  CHECK(run("--sync --prune --insecure --allowed-within 10.8.0.0/16 --max-prune 120%", out) == 1);
  CHECK_THAT(out, Catch::Contains("expected a share from 0% to 100%, got '120%'"));
  CHECK(run("--prune", out) == 1);
  CHECK_THAT(out, Catch::Contains("--prune: only works with --sync"));
  std::ofstream(dir.path() + "/bad.sync") << "added nonsense\n";
  CHECK(run("--sync --insecure --allowed-within 10.8.0.0/16 --state " + dir.path() + "/bad.sync", out) == 1);
  CHECK_THAT(out, Catch::Contains(dir.path() + "/bad.sync:1: expected 'added KEY' or 'held KEY'"));
}
