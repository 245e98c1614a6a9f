// What case the names the server writes are in, as docs/records.md states it.
#include <catch2/catch.hpp>

#include <cstdlib>

#include "dns/fixtures.hpp"
#include "dns/responder.hpp"
#include "support/dns_case.hpp"

using namespace wgsd;
using namespace wgsd::test;

namespace {

std::string rdf_text(const ldns_rdf* rdf) {
  char* s = ldns_rdf2str(rdf);
  std::string out = s != nullptr ? s : "";
  std::free(s);
  return out;
}

PktPtr ask(const dns::ZoneSet& zones, const std::string& qname, ldns_rr_type qtype) {
  auto pkt = parse_response(dns::respond(make_query(qname, qtype), zones, {dns::Transport::udp, std::nullopt}));
  REQUIRE(pkt);
  return pkt;
}

}  // namespace

TEST_CASE("PTR targets: the base32 label in lower case, then the question as asked, and all else lower case", "[dns][responder]") {
  const auto zones = reference_zones();

  auto ptr = ask(zones, "_WireGuard._UDP.eXample.COM.", LDNS_RR_TYPE_PTR);
  REQUIRE(ldns_rr_list_rr_count(ldns_pkt_answer(ptr.get())) > 0);
  const std::string target = rdf_text(ldns_rr_rdf(ldns_rr_list_rr(ldns_pkt_answer(ptr.get()), 0), 0));
  CHECK(target == name1.substr(0, 57) + "_WireGuard._UDP.eXample.COM.");

  auto srv = ask(zones, "CJ7VJD6YKB2UBT6NOA6PW32PMF3EGUMO52QWA4UJ4EKILQDX252A====._WireGuard._UDP.eXample.COM.", LDNS_RR_TYPE_SRV);
  REQUIRE(ldns_rr_list_rr_count(ldns_pkt_answer(srv.get())) == 1);
  CHECK(rdf_text(ldns_rr_rdf(ldns_rr_list_rr(ldns_pkt_answer(srv.get()), 0), 3)) == name1);
  const ldns_rr_list* extra = ldns_pkt_additional(srv.get());
  REQUIRE(ldns_rr_list_rr_count(extra) >= 2);
  for (std::size_t i = 0; i < ldns_rr_list_rr_count(extra); ++i) {
    const ldns_rr* rr = ldns_rr_list_rr(extra, i);
    if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_OPT) CHECK(rdf_text(ldns_rr_owner(rr)) == name1);
  }

  auto soa = ask(zones, "eXample.COM.", LDNS_RR_TYPE_SOA);
  REQUIRE(ldns_rr_list_rr_count(ldns_pkt_answer(soa.get())) == 1);
  const ldns_rr* soa_rr = ldns_rr_list_rr(ldns_pkt_answer(soa.get()), 0);
  CHECK(rdf_text(ldns_rr_rdf(soa_rr, 0)) == "ns1.example.com.");
  CHECK(rdf_text(ldns_rr_rdf(soa_rr, 1)) == "postmaster.example.com.");
}
