// wgsd-client --sync listing by zone transfer: against a wgsd-server with `transfer` (a zone of more
// than the thousand peers a PTR answer holds), the fallback to PTR over TCP where transfers are
// refused, and a scripted registry whose transfer has a message unsigned, badly signed or replayed.
#include <catch2/catch.hpp>

#include <ctime>

#include "client/axfr_listing.hpp"
#include "client/sync.hpp"
#include "dns/xfr_case.hpp"
#include "scripted_dns.hpp"
#include "support/keys.hpp"
#include "support/lab.hpp"
#include "support/serving.hpp"
#include "support/tsig_key.hpp"

using namespace wgsd;
using namespace wgsd::test;
using namespace std::chrono_literals;

namespace {

// A master of `n` peers that never connected, each with its own /32 in 10.8.0.0/16.
wg::Device master(unsigned n) {
  wg::Device d;
  d.name = "wgm1";
  d.public_key = key_n(100000);
  for (unsigned i = 1; i <= n; ++i) {
    wg::Peer p;
    p.public_key = key_n(i);
    p.allowed_ips = {*wg::Prefix::parse("10.8." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1) + "/32")};
    d.peers.push_back(p);
  }
  return d;
}

struct AxfrCase {
  std::uint16_t port = free_port();
  Serving registry;
  FakeBackend device;
  client::Options options;
  client::SyncOptions sync;
  client::SyncState state;

  AxfrCase(unsigned peers, bool transfer)
      : registry("example.com:" + std::to_string(port) + " {\n bind 127.0.0.1\n wgsd example.com. wgm1 {\n  list-all\n  ns ns.example.\n }\n" +
                     " tsig {\n  secret key.example. " + test_tsig_secret + "\n  require all\n  fudge 5\n }\n" +
                     (transfer ? " transfer {\n  to 127.0.0.1\n }\n" : "") + "}\n",
                 {master(peers)}) {
    wg::Device d;
    d.name = "wgc1";
    d.public_key = key_n(200000);
    device.put(d);
    options.device = "wgc1";
    options.registries = {{*wg::IpAddress::parse("127.0.0.1"), port}};
    options.zone = "example.com.";
    options.timeout = 2000ms;
    options.retries = 1;
    options.tsig = test_tsig_key();
    sync.allowed_within = {*wg::Prefix::parse("10.8.0.0/16")};
    sync.prune = true;
  }
  bool noted(const client::SyncReport& r, const std::string& text) {
    return std::any_of(r.notes.begin(), r.notes.end(), [&](const auto& n) { return n.find(text) != std::string::npos; });
  }
};

}  // namespace

TEST_CASE("sync lists by AXFR where the registry allows it: all of 1,500 peers, more than a PTR answer holds", "[client][sync][xfr]") {
  AxfrCase c(1500, true);
  const auto r = client::sync_once(c.options, c.sync, c.state, c.device);
  INFO(r.error);
  for (const auto& n : r.notes) UNSCOPED_INFO(n);
  CHECK(r.listed == 1500);
  CHECK(c.noted(r, "listing from 127.0.0.1:" + std::to_string(c.port) + ": by AXFR, 1500 peers"));
  CHECK_FALSE(c.noted(r, "nothing is pruned"));
  CHECK(c.device.get_device("wgc1").peers.size() == 1500);
  CHECK(c.state.added.size() == 1500);
}

TEST_CASE("sync falls back to PTR over TCP where transfers are refused, and says so", "[client][sync][xfr]") {
  SECTION("a few peers: all listed") {
    AxfrCase c(5, false);
    const auto r = client::sync_once(c.options, c.sync, c.state, c.device);
    CHECK(r.listed == 5);
    CHECK(c.noted(r, "AXFR from 127.0.0.1:" + std::to_string(c.port) + ": the registry answered REFUSED: listing by PTR over TCP"));
    CHECK(c.noted(r, ": by PTR over TCP, 5 peers"));
    CHECK(c.device.get_device("wgc1").peers.size() == 5);
  }
  SECTION("1,500 peers: the PTR answer is cut, and nothing is pruned") {
    AxfrCase c(1500, false);
    c.options.dry_run = true;
    const auto r = client::sync_once(c.options, c.sync, c.state, c.device);
    CHECK(r.listed < 1500);
    CHECK(c.noted(r, "the registry answered REFUSED: listing by PTR over TCP"));
    CHECK(c.noted(r, "a registry that allows this client to transfer the zone lists them all"));
  }
}

namespace {

// The signed transfer wgsd would send for `query`, of a zone of `n` peers.
std::vector<std::vector<std::uint8_t>> signed_transfer(const std::vector<std::uint8_t>& query, unsigned n) {
  std::size_t owner = 0;
  REQUIRE(dns::tsig::locate(query, owner) == dns::tsig::Found::last);
  const auto rec = dns::tsig::read_record(query, owner);
  REQUIRE(rec);
  const auto mac = dns::tsig::mac_of(query, *rec);
  dns::TransferSigning signing{test_tsig_key(), {mac.begin(), mac.end()}, dns::get_u16(query.data()), 5};
  dns::TransferStream stream(many_zone(n), std::span<const std::uint8_t>(query.data(), rec->start), signing);
  std::vector<std::vector<std::uint8_t>> out;
  std::vector<std::uint8_t> buf(dns::max_message);
  while (!stream.done()) {
    const auto size = stream.next(buf, static_cast<std::uint64_t>(std::time(nullptr)));
    REQUIRE(size > 0);
    out.emplace_back(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(size));
  }
  return out;
}

void strip_tsig(std::vector<std::uint8_t>& msg) {
  std::size_t owner = 0;
  REQUIRE(dns::tsig::locate(msg, owner) == dns::tsig::Found::last);
  const auto rec = dns::tsig::read_record(msg, owner);
  msg.resize(rec->start);
  const auto ar = static_cast<std::uint16_t>(dns::get_u16(msg.data() + 10) - 1);
  msg[10] = static_cast<std::uint8_t>(ar >> 8);
  msg[11] = static_cast<std::uint8_t>(ar);
}

std::vector<ScriptedDns::Send> sends(const std::vector<std::vector<std::uint8_t>>& messages) {
  std::vector<ScriptedDns::Send> out;
  for (const auto& m : messages) out.push_back({m});
  return out;
}

}  // namespace

TEST_CASE("sync by AXFR: every message must be signed and chain, or the round adds nothing", "[client][sync][xfr][tsig]") {
  const unsigned n = 3000;  // several messages
  std::vector<std::vector<std::uint8_t>> earlier;  // a transfer answered to an earlier query
  enum class Fault { none, unsigned_second, bad_mac_second, replayed, unsigned_last };
  Fault fault = Fault::none;
  ScriptedDns dns([&](const std::vector<std::uint8_t>& q, bool tcp, unsigned) -> std::vector<ScriptedDns::Send> {
    if (!tcp || qtype_of(q) != dns::type::axfr) return {};
    auto messages = signed_transfer(q, n);
    REQUIRE(messages.size() > 3);
    switch (fault) {
      case Fault::none: break;
      case Fault::unsigned_second: strip_tsig(messages[1]); break;
      case Fault::bad_mac_second: {
        std::size_t owner = 0;
        dns::tsig::locate(messages[1], owner);
        const auto rec = dns::tsig::read_record(messages[1], owner);
        messages[1][rec->mac_offset] ^= 1;
        break;
      }
      case Fault::replayed: {  // the ID is not covered by the MAC: a replayer sets ours
        auto replay = earlier;
        for (auto& m : replay) std::copy(q.begin(), q.begin() + 2, m.begin());
        return sends(replay);
      }
      case Fault::unsigned_last: strip_tsig(messages.back()); break;
    }
    if (earlier.empty()) earlier = messages;
    return sends(messages);
  });
  FakeBackend device;
  wg::Device d;
  d.name = "wgc2";
  d.public_key = key_n(200000);
  device.put(d);
  client::Options options;
  options.device = "wgc2";
  options.registries = {{*wg::IpAddress::parse("127.0.0.1"), dns.port()}};
  options.zone = "example.com.";
  options.timeout = 1000ms;
  options.retries = 0;
  options.tsig = test_tsig_key();
  options.dry_run = true;  // the scripted registry answers transfers only
  client::SyncOptions sync;
  sync.allowed_within = {*wg::Prefix::parse("10.0.0.0/8")};
  client::SyncState state;
  const auto key = test_tsig_key();

  // As it should be: the whole zone.
  const auto good = client::axfr_listing(options.registries[0], "example.com.", &key, {});
  INFO(good.error);
  CHECK(good.result == client::AxfrListing::Result::done);
  CHECK(good.keys.size() == n);
  CHECK(good.messages > 3);

  const auto expect_refused = [&](Fault f, const std::string& why) {
    fault = f;
    const auto l = client::axfr_listing(options.registries[0], "example.com.", &key, {});
    CHECK(l.result == client::AxfrListing::Result::failed);
    CHECK_THAT(l.error, Catch::Contains(why));
    const auto r = client::sync_once(options, sync, state, device);
    CHECK(r.listing_failed);
    CHECK(r.listed == 0);
    CHECK(r.peers.empty());
  };
  expect_refused(Fault::unsigned_second, "message 2: the answer is not signed (TSIG): refused");
  expect_refused(Fault::bad_mac_second, "message 2: the answer's TSIG signature does not verify with key key.example. (BADSIG)");
  expect_refused(Fault::unsigned_last, "the answer is not signed (TSIG): refused");
  expect_refused(Fault::replayed, "message 1: the answer's TSIG signature does not verify");
}
