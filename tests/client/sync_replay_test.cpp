// wgsd-client --sync through a proxy on the path to a real registry (TSIG, `require all`, `fudge 5`,
// no transfers, so the listing goes by PTR over TCP): the registry's signed PTR answer, recorded and
// replayed to a later listing query, is refused by the listing itself and changes nothing.
#include <catch2/catch.hpp>

#include "client/sync.hpp"
#include "dns/tsig.hpp"
#include "dns/wire.hpp"
#include "recording_dns.hpp"
#include "support/keys.hpp"
#include "support/lab.hpp"
#include "support/serving.hpp"
#include "support/tsig_key.hpp"

using namespace wgsd;
using namespace wgsd::test;
using namespace std::chrono_literals;

namespace {

wg::Peer listed_peer(unsigned n, const char* endpoint, const char* allowed) {
  wg::Peer p;
  p.public_key = key_n(n);
  if (endpoint != nullptr) p.endpoint = wg::Endpoint::parse(endpoint);
  p.allowed_ips = {*wg::Prefix::parse(allowed)};
  return p;
}

// The MAC a signed message carries.
std::vector<std::uint8_t> mac_of(const std::vector<std::uint8_t>& msg) {
  std::size_t owner = 0;
  REQUIRE(dns::tsig::locate(msg, owner) == dns::tsig::Found::last);
  const auto rec = dns::tsig::read_record(msg, owner);
  REQUIRE(rec);
  const auto mac = dns::tsig::mac_of(msg, *rec);
  return {mac.begin(), mac.end()};
}

bool noted(const client::SyncReport& r, const std::string& text) {
  return std::any_of(r.notes.begin(), r.notes.end(), [&](const auto& n) { return n.find(text) != std::string::npos; });
}

}  // namespace

TEST_CASE("sync: a signed PTR listing recorded on the path and replayed to a later query is refused, and the device is unchanged",
          "[client][sync][tsig]") {
  wg::Device master;
  master.name = "wgm3";
  master.public_key = key_n(300);
  master.peers = {listed_peer(1, "198.51.100.1:10001", "10.8.0.1/32"), listed_peer(2, nullptr, "10.8.0.2/32")};
  const std::uint16_t registry_port = free_port();
  Serving registry("example.com:" + std::to_string(registry_port) +
                       " {\n bind 127.0.0.1\n wgsd example.com. wgm3 {\n  list-all\n  ns ns.example.\n }\n"
                       " tsig {\n  secret key.example. " + test_tsig_secret + "\n  require all\n  fudge 5\n }\n}\n",
                   {master});
  RecordingDns path(registry_port);

  FakeBackend device;
  wg::Device mine;
  mine.name = "wgc3";
  mine.public_key = key_n(301);
  mine.peers = {listed_peer(50, "203.0.113.50:50", "10.8.1.5/32")};
  device.put(mine);
  client::Options options;
  options.device = "wgc3";
  options.registries = {{*wg::IpAddress::parse("127.0.0.1"), path.port()}};
  options.zone = "example.com.";
  options.timeout = 1000ms;
  options.retries = 1;
  options.tsig = test_tsig_key();
  client::SyncOptions sync;
  sync.allowed_within = {*wg::Prefix::parse("10.8.0.0/16")};
  sync.prune = true;
  client::SyncState state;

  // A look through the path records the registry's signed PTR answer over TCP (and changes nothing).
  auto look = options;
  look.dry_run = true;
  const auto seen = client::sync_once(look, sync, state, device);
  for (const auto& n : seen.notes) UNSCOPED_INFO(n);
  REQUIRE(seen.listed == 2);
  REQUIRE(noted(seen, "by PTR over TCP, 2 peers"));
  const auto recorded = path.last(dns::type::ptr, true);
  REQUIRE(recorded);
  REQUIRE_FALSE(recorded->answer.empty());

  // The same answer replayed to the next listing query: its ID set to the new query's, its
  // signature whole and fresh (well inside the fudge), but chained to the old query's MAC.
  path.replay(dns::type::ptr, true, recorded->answer);
  const auto r = client::sync_once(options, sync, state, device);
  for (const auto& n : r.notes) UNSCOPED_INFO(n);
  INFO(r.error);
  const auto replayed = path.replayed_to();
  REQUIRE_FALSE(replayed.empty());
  // A new query, a new chain. The replayer also had to give the answer the new question's letter
  // case (the client mixes it and checks the echo), and the MAC covers the question as well: either
  // change alone breaks the signature, so this shows a replay refused, not which check refused it.
  CHECK(mac_of(replayed.back()) != mac_of(recorded->query));
  CHECK(r.listing_failed);
  CHECK(r.listed == 0);
  CHECK(noted(r, "BADSIG"));
  CHECK(r.peers.empty());
  CHECK(r.exit_code() == 2);
  CHECK(device.get_device("wgc3") == mine);
  CHECK(state.added.empty());

  // The control: the registry's own answer, through the same path, adds both peers. Had the
  // replay been taken, the round above would have done the same.
  RecordingDns direct(registry_port);
  options.registries = {{*wg::IpAddress::parse("127.0.0.1"), direct.port()}};
  const auto ok = client::sync_once(options, sync, state, device);
  for (const auto& n : ok.notes) UNSCOPED_INFO(n);
  CHECK(ok.listed == 2);
  CHECK(device.get_device("wgc3").peers.size() == 3);
  CHECK(state.added.size() == 2);
}
