// Pool names: which members they answer, in what order, and how the order is drawn.
#include <catch2/catch.hpp>

#include <map>
#include <set>

#include "dns/fixtures.hpp"
#include "dns/names.hpp"
#include "dns/responder.hpp"
#include "support/dns_case.hpp"
#include "support/keys.hpp"

using namespace wgsd;
using namespace wgsd::test;

namespace {

const wg::Clock::time_point t0(std::chrono::seconds(1700000000));

dns::PoolMemberView member(unsigned n, const char* endpoint, bool healthy, std::uint16_t weight = 1) {
  dns::PoolMemberView m;
  m.key = key_n(n);
  m.weight = weight;
  if (endpoint != nullptr) m.endpoint = wg::Endpoint::parse(endpoint);
  m.healthy = healthy;
  return m;
}

dns::PoolView pool(std::vector<dns::PoolMemberView> members, std::uint32_t answers = 0) {
  dns::PoolView p;
  p.name = "vpn";
  p.answers = answers;
  p.members = std::move(members);
  return p;
}

dns::ZoneSet zones_with(const std::vector<dns::PoolView>& pools) {
  const auto ref = reference_settings();
  return zone_set(dns::build_zone(ref.settings, server::published_peers(ref.publish, *std::make_unique<wg::Device>(reference_device()), t0),
                                  t0, nullptr, pools));
}

PktPtr ask(const dns::ZoneSet& zones, const std::string& qname, ldns_rr_type qtype, dns::Transport transport = dns::Transport::udp) {
  auto pkt = parse_response(dns::respond(make_query(qname, qtype, {.edns = true}), zones, {transport, std::nullopt}));
  REQUIRE(pkt);
  return pkt;
}

std::string instance(unsigned n) { return dns::instance_name(key_n(n), "example.com."); }

// Sorted, for comparing sets regardless of the drawn order.
std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// Pearson's statistic of `counts` against `expected` shares.
double chi_square(const std::vector<double>& counts, const std::vector<double>& shares, double total) {
  double x = 0;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    const double e = shares[i] * total;
    x += (counts[i] - e) * (counts[i] - e) / e;
  }
  return x;
}

}  // namespace

TEST_CASE("a pool answers one address and one SRV per healthy member, with the pool's TTL", "[dns][pool]") {
  const auto zones = zones_with({pool({member(1, "192.0.2.1:51820", true), member(2, "[2001:db8::2]:51821", true, 3),
                                       member(3, "192.0.2.3:51822", false), member(4, nullptr, true), member(5, "192.0.2.5:51825", true, 2)})});
  CHECK(sorted(section(ask(zones, "vpn.example.com.", LDNS_RR_TYPE_A).get(), LDNS_SECTION_ANSWER)) ==
        sorted(rrs({"vpn.example.com. 10 IN A 192.0.2.1", "vpn.example.com. 10 IN A 192.0.2.5"})));
  CHECK(section(ask(zones, "vpn.example.com.", LDNS_RR_TYPE_AAAA).get(), LDNS_SECTION_ANSWER) ==
        rrs({"vpn.example.com. 10 IN AAAA 2001:db8::2"}));
  const auto srv = ask(zones, "_wireguard._udp.vpn.example.com.", LDNS_RR_TYPE_SRV);
  CHECK(sorted(section(srv.get(), LDNS_SECTION_ANSWER)) ==
        sorted(rrs({"_wireguard._udp.vpn.example.com. 10 IN SRV 0 1 51820 " + instance(1),
                    "_wireguard._udp.vpn.example.com. 10 IN SRV 0 3 51821 " + instance(2),
                    "_wireguard._udp.vpn.example.com. 10 IN SRV 0 2 51825 " + instance(5)})));
  CHECK(sorted(section(srv.get(), LDNS_SECTION_ADDITIONAL)) ==
        sorted(rrs({instance(1) + " 10 IN A 192.0.2.1", instance(2) + " 10 IN AAAA 2001:db8::2", instance(5) + " 10 IN A 192.0.2.5"})));

  // A name like any other: NODATA for other types and for the empty non-terminal, NXDOMAIN below.
  for (const auto& [name, type] : std::vector<std::pair<std::string, ldns_rr_type>>{{"vpn.example.com.", LDNS_RR_TYPE_TXT},
                                                                                    {"_udp.vpn.example.com.", LDNS_RR_TYPE_A},
                                                                                    {"_wireguard._udp.vpn.example.com.", LDNS_RR_TYPE_A}}) {
    const auto p = ask(zones, name, type);
    CHECK(ldns_pkt_get_rcode(p.get()) == LDNS_RCODE_NOERROR);
    CHECK(ldns_pkt_ancount(p.get()) == 0);
    CHECK(ldns_pkt_nscount(p.get()) == 1);
  }
  CHECK(ldns_pkt_get_rcode(ask(zones, "x.vpn.example.com.", LDNS_RR_TYPE_A).get()) == LDNS_RCODE_NXDOMAIN);
  // The peers' own names are untouched.
  CHECK(section(ask(zones, name1, LDNS_RR_TYPE_A).get(), LDNS_SECTION_ANSWER) == rrs({name1 + " 0 IN A 198.51.100.7"}));
}

TEST_CASE("every drawn order keeps each SRV's additional address with its own target", "[dns][pool]") {
  const auto zones = zones_with({pool({member(1, "192.0.2.1:1", true), member(2, "192.0.2.2:2", true), member(3, "[2001:db8::3]:3", true),
                                       member(4, "192.0.2.4:4", true)})});
  std::set<std::string> firsts;
  for (int i = 0; i < 200; ++i) {
    const auto p = ask(zones, "_wireguard._udp.vpn.example.com.", LDNS_RR_TYPE_SRV);
    const ldns_rr_list* answer = ldns_pkt_answer(p.get());
    const ldns_rr_list* extra = ldns_pkt_additional(p.get());
    REQUIRE(ldns_rr_list_rr_count(answer) == 4);
    REQUIRE(ldns_rr_list_rr_count(extra) == 4);  // ldns keeps the OPT record apart
    for (std::size_t k = 0; k < 4; ++k) {
      const ldns_rr* srv = ldns_rr_list_rr(answer, k);
      const ldns_rr* address = ldns_rr_list_rr(extra, k);
      CHECK(ldns_dname_compare(ldns_rr_rdf(srv, 3), ldns_rr_owner(address)) == 0);
      const std::string port = std::to_string(ldns_rdf2native_int16(ldns_rr_rdf(srv, 2)));
      const std::string text = rr_text(address);
      CHECK((text.find("192.0.2." + port) != std::string::npos || text.find("2001:db8::" + port) != std::string::npos));
    }
    firsts.insert(rr_text(ldns_rr_list_rr(answer, 0)));
  }
  CHECK(firsts.size() == 4);  // every member comes first sometimes
}

TEST_CASE("no healthy member: the pool answers every member it can (fail open)", "[dns][pool]") {
  const auto view = pool({member(1, "192.0.2.1:1", false), member(2, "192.0.2.2:2", false), member(3, nullptr, false)});
  CHECK(view.fail_open());
  const auto zones = zones_with({view});
  CHECK(zones.zones[0]->pools.at(0).fail_open);
  CHECK(sorted(section(ask(zones, "vpn.example.com.", LDNS_RR_TYPE_A).get(), LDNS_SECTION_ANSWER)) ==
        sorted(rrs({"vpn.example.com. 10 IN A 192.0.2.1", "vpn.example.com. 10 IN A 192.0.2.2"})));
  // A healthy member without an endpoint cannot be answered: that is failing too.
  CHECK(pool({member(1, "192.0.2.1:1", false), member(3, nullptr, true)}).fail_open());
  CHECK_FALSE(pool({member(1, "192.0.2.1:1", true), member(3, nullptr, false)}).fail_open());
}

TEST_CASE("answers N: at most N records, drawn afresh for each query", "[dns][pool]") {
  const auto zones = zones_with({pool({member(1, "192.0.2.1:1", true), member(2, "192.0.2.2:2", true), member(3, "192.0.2.3:3", true)}, 1)});
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    const auto a = section(ask(zones, "vpn.example.com.", LDNS_RR_TYPE_A).get(), LDNS_SECTION_ANSWER);
    REQUIRE(a.size() == 1);
    seen.insert(a[0]);
    const auto srv = ask(zones, "_wireguard._udp.vpn.example.com.", LDNS_RR_TYPE_SRV);
    CHECK(ldns_pkt_ancount(srv.get()) == 1);
    CHECK(section(srv.get(), LDNS_SECTION_ADDITIONAL).size() == 1);
  }
  CHECK(seen.size() == 3);
}

TEST_CASE("the snapshot keeps every member's health, answered or not", "[dns][pool]") {
  const auto zones = zones_with({pool({member(1, "192.0.2.1:1", true), member(2, "192.0.2.2:2", false), member(3, nullptr, false)})});
  const auto& p = zones.zones[0]->pools.at(0);
  REQUIRE(p.members.size() == 3);
  CHECK((p.members[0].healthy && p.members[0].answered));
  CHECK((!p.members[1].healthy && !p.members[1].answered));
  CHECK((!p.members[2].endpoint && !p.members[2].answered));
  CHECK_FALSE(p.fail_open);
}

TEST_CASE("a change of health changes the digest and the zone is rebuilt, the same health keeps the snapshot", "[dns][pool]") {
  const auto ref = reference_settings();
  const std::vector<dns::PublishedPeer> none;
  const auto up = pool({member(1, "192.0.2.1:1", true), member(2, "192.0.2.2:2", true)});
  auto down = up;
  down.members[1].healthy = false;
  CHECK(dns::published_digest(none, {up}) == dns::published_digest(none, {up}));
  CHECK(dns::published_digest(none, {up}) != dns::published_digest(none, {down}));
  const auto first = dns::refresh_zone(ref.settings, none, t0, nullptr, {up});
  CHECK(dns::refresh_zone(ref.settings, none, t0, first, {up}) == first);
  const auto second = dns::refresh_zone(ref.settings, none, t0, first, {down});
  CHECK(second != first);
  CHECK(second->serial > first->serial);
}

// The chance of coming first is proportional to the weight: 8,000 draws of weights 1, 2 and 5 pass
// Pearson's test at p > 0.001 (two degrees of freedom: the statistic stays below 13.82). Seeded,
// so that the test cannot fail one run in a thousand by chance.
TEST_CASE("first answers follow the weights: chi-square over 8,000 queries", "[dns][pool][chi-square]") {
  dns::seed_pool_random(0x5eed);
  const auto zones = zones_with({pool({member(1, "192.0.2.1:1", true, 1), member(2, "192.0.2.2:2", true, 2), member(3, "192.0.2.3:3", true, 5)})});
  std::map<std::string, double> first;
  constexpr int queries = 8000;
  for (int i = 0; i < queries; ++i) {
    const auto a = section(ask(zones, "vpn.example.com.", LDNS_RR_TYPE_A).get(), LDNS_SECTION_ANSWER);
    REQUIRE(a.size() == 3);
    first[a[0]] += 1;
  }
  const std::vector<double> counts = {first[rr("vpn.example.com. 10 IN A 192.0.2.1")], first[rr("vpn.example.com. 10 IN A 192.0.2.2")],
                                      first[rr("vpn.example.com. 10 IN A 192.0.2.3")]};
  CAPTURE(counts);
  CHECK(chi_square(counts, {1.0 / 8, 2.0 / 8, 5.0 / 8}, queries) < 13.82);
  // And the order itself is not fixed: a uniform draw would fail the same test by far.
  CHECK(chi_square(counts, {1.0 / 3, 1.0 / 3, 1.0 / 3}, queries) > 13.82);
}

// A server with more addresses (here: four allowed IPs against one) is still one member: equal weights give equal shares of first place, as round robin over
// addresses would not.
TEST_CASE("equal weights give equal shares, however many addresses a member has", "[dns][pool][chi-square]") {
  dns::seed_pool_random(0xfeed);
  auto ref = reference_settings();
  wg::Device device = reference_device();
  device.peers.clear();
  device.peers.push_back(make_peer(key1, "192.0.2.1:1", {"10.0.0.1/32"}));
  device.peers.push_back(make_peer(key2, "192.0.2.4:4", {"10.0.0.4/32", "10.0.0.5/32", "10.0.0.6/32", "10.0.0.7/32"}));
  dns::PoolView view = pool({});
  for (const auto& p : device.peers) view.members.push_back({p.public_key, 1, p.endpoint, true});
  const auto zones = zone_set(dns::build_zone(ref.settings, server::published_peers(ref.publish, device, t0), t0, nullptr, {view}));
  std::map<std::string, double> first;
  constexpr int queries = 8000;
  for (int i = 0; i < queries; ++i) {
    const auto srv = section(ask(zones, "_wireguard._udp.vpn.example.com.", LDNS_RR_TYPE_SRV).get(), LDNS_SECTION_ANSWER);
    REQUIRE(srv.size() == 2);
    first[srv[0]] += 1;
  }
  REQUIRE(first.size() == 2);
  const std::vector<double> counts = {first.begin()->second, std::next(first.begin())->second};
  CAPTURE(counts);
  CHECK(chi_square(counts, {0.5, 0.5}, queries) < 10.83);  // one degree of freedom, p > 0.001
}

TEST_CASE("draw_order: every index once, at most as many as asked, weight 0 never", "[dns][pool]") {
  const std::vector<std::uint16_t> weights = {3, 0, 1, 65535};
  std::array<std::uint16_t, 8> order{};
  for (int i = 0; i < 100; ++i) {
    const std::size_t n = dns::draw_order(weights, order);
    REQUIRE(n == 3);
    std::vector<std::uint16_t> got(order.begin(), order.begin() + 3);
    std::sort(got.begin(), got.end());
    CHECK(got == std::vector<std::uint16_t>{0, 2, 3});
    CHECK(dns::draw_order(weights, std::span(order).first(2)) == 2);
  }
  CHECK(dns::draw_order({}, order) == 0);
}

// The whole order follows the weights, not only its first place: each later place is drawn among
// those left in proportion to their weights. Over 6,000 draws of three members the six orders pass
// Pearson's test at p > 0.001 (five degrees of freedom: below 20.52), for unequal weights and for
// equal ones (which take a shortcut), with a member of weight 0 that never comes.
TEST_CASE("draw_order: every place of the order follows the weights of those left", "[dns][pool][chi-square]") {
  dns::seed_pool_random(0x0de5);
  for (const std::vector<std::uint16_t>& weights : {std::vector<std::uint16_t>{1, 2, 5}, std::vector<std::uint16_t>{7, 0, 7, 7}}) {
    std::vector<std::uint16_t> members;  // indices with a weight
    double total = 0;
    for (std::uint16_t i = 0; i < weights.size(); ++i) {
      if (weights[i] > 0) members.push_back(i);
      total += weights[i];
    }
    REQUIRE(members.size() == 3);
    std::map<std::vector<std::uint16_t>, double> seen;
    constexpr int draws = 6000;
    std::array<std::uint16_t, 8> order{};
    for (int i = 0; i < draws; ++i) {
      REQUIRE(dns::draw_order(weights, order) == 3);
      seen[{order[0], order[1], order[2]}] += 1;
    }
    std::vector<double> counts, shares;
    std::vector<std::uint16_t> p = members;
    do {
      counts.push_back(seen[p]);
      shares.push_back(weights[p[0]] / total * weights[p[1]] / (total - weights[p[0]]));
    } while (std::next_permutation(p.begin(), p.end()));
    CAPTURE(weights, counts);
    CHECK(seen.size() == 6);
    CHECK(chi_square(counts, shares, draws) < 20.52);
  }
}
