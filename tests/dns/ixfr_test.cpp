// The serial policy, the transfer view and the IXFR journal.
#include <catch2/catch.hpp>

#include "dns/ixfr_journal.hpp"
#include "dns/names.hpp"
#include "dns/xfr_case.hpp"

using namespace wgsd;
using namespace wgsd::test;

namespace {

const auto t0 = wg::Clock::time_point(std::chrono::seconds(1800000000));

std::shared_ptr<const dns::Zone> build(const std::vector<dns::PublishedPeer>& peers, const std::shared_ptr<const dns::Zone>& previous, int seconds) {
  return dns::refresh_zone(xfr_settings(), peers, t0 + std::chrono::seconds(seconds), previous);
}

}  // namespace

TEST_CASE("SERIAL: handshakes alone never move it, endpoints, allowed IPs and the peer set do", "[dns][xfr][serial]") {
  auto peers = many_peers(50);
  auto z1 = build(peers, nullptr, 0);
  // Every handshake renewed: a new snapshot (TXT answers carry handshake=), the same serial.
  for (auto& p : peers) p.handshake = *p.handshake + std::chrono::seconds(120);
  auto z2 = build(peers, z1, 10);
  CHECK(z2 != z1);
  CHECK(z2->serial == z1->serial);
  peers[3].endpoint = wg::Endpoint::parse("192.0.2.99:9");
  auto z3 = build(peers, z2, 20);
  CHECK(z3->serial == z1->serial + 20);
  peers[4].allowed_ips.push_back(wg::Prefix(*wg::IpAddress::parse("10.9.9.0"), 24));
  auto z4 = build(peers, z3, 20);
  CHECK(z4->serial == z3->serial + 1);
  peers.pop_back();
  auto z5 = build(peers, z4, -3600);  // the clock went back: the serial does not
  CHECK(z5->serial == z4->serial + 1);
}

TEST_CASE("IXFR: the journal's steps from the requester's serial, the SOA alone when current, the whole zone when too old", "[dns][xfr][ixfr]") {
  auto peers = many_peers(3000);
  auto z1 = build(peers, nullptr, 0);
  peers[10].endpoint = wg::Endpoint::parse("192.0.2.10:10");           // moved
  for (auto& p : peers) p.handshake = *p.handshake + std::chrono::seconds(1);  // and every handshake renewed
  auto z2 = build(peers, z1, 1);
  peers.push_back(many_peers(1, 5000)[0]);                             // added
  peers.erase(peers.begin() + 20);                                     // removed
  auto z3 = build(peers, z2, 2);
  REQUIRE(z3->journal);
  REQUIRE(z3->journal->steps.size() == 2);

  const auto zones = transferable(z3);
  const auto records = transfer_records(transfer_messages(ixfr_query(z1->serial), zones));
  const auto soa = [](const std::shared_ptr<const dns::Zone>& z) { return " " + std::to_string(z->serial) + " "; };
  // SOA 3, SOA 1, what went, SOA 2, what came, SOA 2, what went, SOA 3, what came, SOA 3.
  std::vector<std::size_t> soas;
  for (std::size_t i = 0; i < records.size(); ++i) {
    if (records[i].find(" in soa ") != std::string::npos) soas.push_back(i);
  }
  REQUIRE(soas.size() == 6);
  CHECK(records[soas[0]].find(soa(z3)) != std::string::npos);
  CHECK(records[soas[1]].find(soa(z1)) != std::string::npos);
  CHECK(records[soas[2]].find(soa(z2)) != std::string::npos);
  CHECK(records[soas[3]].find(soa(z2)) != std::string::npos);
  CHECK(records[soas[4]].find(soa(z3)) != std::string::npos);
  CHECK(records[soas[5]].find(soa(z3)) != std::string::npos);
  // Step 1: the moved peer's SRV/A out and in, nothing for the handshakes.
  const std::string moved = dns::instance_name(peers[10].key, "example.com.");
  CHECK(soas[2] - soas[1] - 1 == 2);  // its SRV and A went
  CHECK(soas[3] - soas[2] - 1 == 2);  // and came
  CHECK((records[soas[3] - 1] + records[soas[3] - 2]).find(moved.substr(0, 20)) != std::string::npos);
  CHECK((records[soas[3] - 1] + records[soas[3] - 2]).find("192.0.2.10") != std::string::npos);
  // Step 2: a peer went (PTR, SRV, A, TXT) and one came (the same four).
  CHECK(soas[4] - soas[3] - 1 == 4);
  CHECK(records.size() - soas[4] - 2 == 4);
  for (const auto& r : records) CHECK(r.find("handshake=") == std::string::npos);

  // The current serial: the SOA alone.
  const auto current = transfer_records(transfer_messages(ixfr_query(z3->serial), zones));
  REQUIRE(current.size() == 1);
  CHECK(current[0].find(soa(z3)) != std::string::npos);
  // A serial the journal does not reach: the whole zone, AXFR-style.
  const auto whole = transfer_records(transfer_messages(ixfr_query(z1->serial - 100), zones));
  CHECK(whole.size() > 4 * 3000);
  CHECK(whole.front() == whole.back());
}

TEST_CASE("the journal is bounded in steps and bytes", "[dns][xfr][ixfr]") {
  auto peers = many_peers(100);
  auto z = build(peers, nullptr, 0);
  for (int i = 1; i <= 80; ++i) {
    peers[static_cast<std::size_t>(i % 100)].endpoint = wg::Endpoint::parse("192.0.2." + std::to_string(i) + ":1");
    auto next = build(peers, z, i);
    // Each step starts where the one before ended.
    REQUIRE(next->journal);
    CHECK(next->journal->steps.back()->from_serial == z->serial);
    z = next;
  }
  const dns::JournalLimits limits;
  CHECK(z->journal->steps.size() == limits.max_steps);
  CHECK(z->journal->steps.front()->to_serial == z->journal->steps[1]->from_serial);
  // A step larger than the byte bound clears the journal: every peer moved, 1 KB allowed.
  for (auto& p : peers) p.endpoint = wg::Endpoint::parse("192.0.2.250:2");
  auto big = build(peers, z, 100);
  CHECK(dns::next_journal(*z, *big, {64, 1024}) == nullptr);
  std::vector<std::shared_ptr<const dns::JournalDelta>> steps;
  CHECK(big->journal);
  CHECK(dns::journal_steps(*big, z->serial, steps));
  CHECK(steps.size() == 1);
}
