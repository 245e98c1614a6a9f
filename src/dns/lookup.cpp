#include "dns/lookup.hpp"

#include "dns/wire.hpp"

namespace wgsd::dns {

LookupResult lookup(const ZoneSet& zones, std::string_view lower_qname, std::uint16_t qtype) {
  LookupResult r;
  r.zone = zones.match(lower_qname, r.apex_offset);
  if (r.zone == nullptr) return r;
  if (!r.zone->loaded) {
    r.outcome = Outcome::servfail;
    return r;
  }
  r.node = r.zone->find(lower_qname);
  if (!r.node) {
    r.outcome = Outcome::nxdomain;
    return r;
  }
  if (qtype == type::any) {
    r.outcome = r.node.rrset_count() == 0 && !r.node.dynamic_address() ? Outcome::nodata : Outcome::answer;
    return r;
  }
  if ((qtype == type::a || qtype == type::aaaa) && r.node.dynamic_address()) {
    r.outcome = Outcome::answer;
    return r;
  }
  r.rrset = r.node.find(qtype);
  r.outcome = r.rrset ? Outcome::answer : Outcome::nodata;
  return r;
}

}  // namespace wgsd::dns
