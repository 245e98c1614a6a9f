// AXFR as wgsd's TCP loop streams it: SOA first and last, every record the server answers, the
// complete PTR set across as many messages as it takes, each signed when the request was.
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>

#include "dns/names.hpp"
#include "dns/xfr_case.hpp"
#include "dns/tsig_case.hpp"

using namespace wgsd;
using namespace wgsd::test;

namespace {

std::size_t count_type(const std::vector<std::string>& records, const std::string& type) {
  return static_cast<std::size_t>(std::count_if(records.begin(), records.end(), [&](const std::string& r) {
    return r.find(" in " + type + " ") != std::string::npos;
  }));
}

// What the responder answers for `name` and `type`, as the transfer view has it.
std::vector<std::string> answered(const dns::ZoneSet& zones, const std::string& name, ldns_rr_type type) {
  const sockaddr_in src = loopback_source();
  auto pkt = parse_response(dns::respond(make_query(name, type), zones, {dns::Transport::tcp, std::nullopt, reinterpret_cast<const sockaddr*>(&src)}));
  REQUIRE(pkt);
  return section(pkt.get(), LDNS_SECTION_ANSWER);
}

}  // namespace

TEST_CASE("AXFR: SOA first and last, the complete PTR set across messages of at most 64 KB, every name's records", "[dns][xfr]") {
  const unsigned n = 3000;  // a PTR set of about 200 KB: no single message holds it
  const dns::ZoneSet zones = transferable(many_zone(n));
  const auto messages = transfer_messages(make_query("example.com.", LDNS_RR_TYPE_AXFR), zones);
  REQUIRE(messages.size() > 3);
  const auto records = transfer_records(messages);
  REQUIRE(records.size() > 2);
  CHECK(records.front().find(" in soa ") != std::string::npos);
  CHECK(records.back() == records.front());
  CHECK(count_type(records, "soa") == 2);
  CHECK(count_type(records, "ptr") == n);
  CHECK(count_type(records, "srv") == n);
  CHECK(count_type(records, "txt") == n);
  CHECK(count_type(records, "a") + count_type(records, "aaaa") == n + 1);  // and ns1's glue
  CHECK(count_type(records, "ns") == 1);
  const std::set<std::string> all(records.begin(), records.end());
  CHECK(all.size() == records.size() - 1);  // nothing twice but the SOA
  // Every PTR names a peer whose SRV is there.
  std::set<std::string> ptr_targets, srv_owners;
  for (const auto& r : records) {
    if (r.find(" in ptr ") != std::string::npos) ptr_targets.insert(r.substr(r.rfind(' ') + 1));
    if (r.find(" in srv ") != std::string::npos) srv_owners.insert(r.substr(0, r.find(' ')));
  }
  CHECK(ptr_targets == srv_owners);
  // A sample of names: what a query gets is what the transfer carries, TXT without handshake=.
  for (const unsigned i : {1U, 10U, 1234U, n}) {
    const std::string name = dns::instance_name(key_n(i), "example.com.");
    for (const auto type : {LDNS_RR_TYPE_SRV, LDNS_RR_TYPE_A, LDNS_RR_TYPE_AAAA}) {
      for (const auto& r : answered(zones, name, type)) CHECK(all.count(r) == 1);
    }
    const auto txt = answered(zones, name, LDNS_RR_TYPE_TXT);
    REQUIRE(txt.size() == 1);
    CHECK(txt[0].find("handshake=") != std::string::npos);
    CHECK(all.count(txt[0].substr(0, txt[0].find(" \"handshake="))) == 1);
  }
  for (const auto& r : records) CHECK(r.find("handshake=") == std::string::npos);
}

TEST_CASE("AXFR signed: every message carries a TSIG chained to the one before (RFC 8945 §5.3.1)", "[dns][xfr][tsig]") {
  const auto key = valid_key("key.example.", "hmac-sha256", "c2VjcmV0LWZvci13Z3NkLXRzaWctdGVzdHMtMzItYnl0ZXM=");
  dns::ZoneSet zones = transferable(many_zone(2000));
  auto policy = std::make_shared<dns::tsig::Policy>();
  dns::tsig::Rule rule;
  rule.keys.push_back(key);
  policy->rules.push_back(rule);
  zones.tsig = policy;
  auto query = make_query("example.com.", LDNS_RR_TYPE_AXFR);
  dns::tsig::SignParams p;
  p.time_signed = now();
  p.original_id = 0x1234;
  query.resize(query.size() + 200);
  query.resize(dns::tsig::sign(query, query.size() - 200, key, p));
  const auto messages = transfer_messages(query, zones);
  REQUIRE(messages.size() > 1);
  std::vector<std::uint8_t> prior(dns::tsig::mac_of(query, record_of(query)).begin(), dns::tsig::mac_of(query, record_of(query)).end());
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const auto rec = record_of(messages[i]);
    CHECK(dns::tsig::verify_response(messages[i], rec, key, prior, now(), i > 0) == dns::tsig::Check::ok);
    // Verified the other way (all variables after the first message) it fails: the chain is real.
    if (i > 0) CHECK(dns::tsig::verify_response(messages[i], rec, key, prior, now(), false) == dns::tsig::Check::badsig);
    const auto mac = dns::tsig::mac_of(messages[i], rec);
    prior.assign(mac.begin(), mac.end());
  }
  // A message out of order breaks the chain.
  const auto rec = record_of(messages[1]);
  CHECK(dns::tsig::verify_response(messages[1], rec, key, dns::tsig::mac_of(messages[1], rec), now(), true) == dns::tsig::Check::badsig);
}

TEST_CASE("transfers: only to the addresses `to` lists, only of an apex, AXFR not over UDP, IXFR over UDP the SOA alone", "[dns][xfr]") {
  auto zone = many_zone(10);
  const auto axfr = make_query("example.com.", LDNS_RR_TYPE_AXFR);
  std::vector<std::uint8_t> refusal;
  SECTION("no transfer directive: REFUSED") {
    dns::ZoneSet none;
    none.zones.push_back(zone);
    CHECK(transfer_messages(axfr, none, &refusal).empty());
    CHECK(ldns_pkt_get_rcode(parse_response(refusal).get()) == LDNS_RCODE_REFUSED);
  }
  SECTION("an address not listed: REFUSED; a listed one transfers") {
    CHECK(transfer_messages(axfr, transferable(zone, {*wg::Endpoint::parse("192.0.2.7:53")}), &refusal).empty());
    CHECK(ldns_pkt_get_rcode(parse_response(refusal).get()) == LDNS_RCODE_REFUSED);
    CHECK_FALSE(transfer_messages(axfr, transferable(zone, {*wg::Endpoint::parse("127.0.0.1:5300")})).empty());
  }
  SECTION("a name below the apex: REFUSED") {
    CHECK(transfer_messages(make_query("_wireguard._udp.example.com.", LDNS_RR_TYPE_AXFR), transferable(zone), &refusal).empty());
    CHECK(ldns_pkt_get_rcode(parse_response(refusal).get()) == LDNS_RCODE_REFUSED);
  }
  SECTION("over UDP") {
    const auto zones = transferable(zone);
    const sockaddr_in src = loopback_source();
    const dns::QueryContext udp{dns::Transport::udp, std::nullopt, reinterpret_cast<const sockaddr*>(&src)};
    CHECK(ldns_pkt_get_rcode(parse_response(dns::respond(axfr, zones, udp)).get()) == LDNS_RCODE_FORMERR);
    auto ixfr = parse_response(dns::respond(ixfr_query(zone->serial - 1), zones, udp));
    REQUIRE(ixfr);
    CHECK(ldns_pkt_get_rcode(ixfr.get()) == LDNS_RCODE_NOERROR);
    const auto answer = section(ixfr.get(), LDNS_SECTION_ANSWER);
    REQUIRE(answer.size() == 1);
    CHECK(answer[0].find(" " + std::to_string(zone->serial) + " ") != std::string::npos);
  }
}

TEST_CASE("transfer view: a TXT loses its handshake= string and nothing else", "[dns][xfr]") {
  auto zone = many_zone(1);
  const auto node = zone->find(*dns::name_to_wire(dns::instance_name(key_n(1), "example.com.")));
  const auto txt = node.find(dns::type::txt).rr(0);
  std::string buf;
  const auto view = dns::transfer_tail(txt, buf);
  CHECK(view.size() < txt.size());
  CHECK(std::string(view).find("handshake=") == std::string::npos);
  CHECK(std::string(view).substr(10) == std::string(txt).substr(10, view.size() - 10));
  CHECK(dns::get_u16(reinterpret_cast<const std::uint8_t*>(view.data()) + 8) == view.size() - 10);
  const auto srv = node.find(dns::type::srv).rr(0);
  CHECK(dns::transfer_tail(srv, buf).data() == srv.data());
}

TEST_CASE("AXFR signed to a slow reader: each message is signed at the time it is made, within a fudge of 2", "[dns][xfr][tsig]") {
  const auto key = valid_key("key.example.", "hmac-sha256", "c2VjcmV0LWZvci13Z3NkLXRzaWctdGVzdHMtMzItYnl0ZXM=");
  dns::ZoneSet zones = transferable(many_zone(2000));
  auto policy = std::make_shared<dns::tsig::Policy>();
  dns::tsig::Rule rule;
  rule.keys.push_back(key);
  rule.fudge = 2;
  policy->rules.push_back(rule);
  zones.tsig = policy;
  const std::uint64_t start = 1'700'000'000;
  auto query = make_query("example.com.", LDNS_RR_TYPE_AXFR);
  dns::tsig::SignParams p;
  p.time_signed = start;
  p.fudge = 2;
  p.original_id = 0x1234;
  query.resize(query.size() + 200);
  query.resize(dns::tsig::sign(query, query.size() - 200, key, p));
  const sockaddr_in src = loopback_source();
  dns::QueryContext ctx{dns::Transport::tcp, std::nullopt, reinterpret_cast<const sockaddr*>(&src)};
  ctx.now = start;
  std::vector<std::uint8_t> out(dns::max_message);
  dns::ResponseInfo info;
  dns::respond(query, zones, ctx, out, &info);
  REQUIRE(info.transfer != nullptr);
  auto stream = dns::open_transfer(query, zones, info);
  REQUIRE(stream);
  // The reader takes 5 s per message: every message must verify at the moment it arrives.
  std::vector<std::uint8_t> prior(dns::tsig::mac_of(query, record_of(query)).begin(), dns::tsig::mac_of(query, record_of(query)).end());
  std::size_t messages = 0;
  for (std::uint64_t at = start; !stream->done(); at += 5) {
    const std::size_t size = stream->next(out, at);
    REQUIRE(size > 0);
    const std::vector<std::uint8_t> m(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(size));
    const auto rec = record_of(m);
    CHECK(rec.time_signed == at);
    CHECK(rec.fudge == 2);
    CHECK(dns::tsig::verify_response(m, rec, key, prior, at, messages > 0) == dns::tsig::Check::ok);
    const auto mac = dns::tsig::mac_of(m, rec);
    prior.assign(mac.begin(), mac.end());
    REQUIRE(++messages < 1000);
  }
  CHECK(messages > 2);
}
