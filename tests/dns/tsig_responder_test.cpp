// The responder with `tsig` keys: signed queries get signed answers that ldns verifies, and each
// way a signature can fail gets the reply RFC 8945 prescribes; `require` refuses unsigned types.
#include <catch2/catch.hpp>

#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "dns/fixtures.hpp"
#include "dns/responder.hpp"
#include "dns/tsig.hpp"
#include "dns/tsig_case.hpp"
#include "dns/wire.hpp"

#include <ldns/ldns.h>  // after the standard headers: it defines bool macros

using namespace wgsd;
using namespace wgsd::dns;
using namespace wgsd::test;

namespace {

constexpr const char* secret = "c2VjcmV0LWZvci13Z3NkLXRzaWctdGVzdHMtMzItYnl0ZXM=";
constexpr const char* other_secret = "d3Jvbmctc2VjcmV0LWZvci10aGUtc2FtZS1rZXktbmFtZQ==";

tsig::Key key(const char* name, const char* alg = "hmac-sha256", const char* b64 = secret) { return valid_key(name, alg, b64); }

ZoneSet zones_with(tsig::Policy policy) {
  ZoneSet z = test::reference_zones();
  z.tsig = std::make_shared<const tsig::Policy>(std::move(policy));
  return z;
}

tsig::Policy one_key(const char* name = "key.example.") {
  tsig::Policy p;
  p.rules.push_back({});
  p.rules[0].keys.push_back(key(name));
  return p;
}

Pkt query(const std::string& name, ldns_rr_type type) {
  Pkt p(ldns_pkt_query_new(ldns_dname_new_frm_str(name.c_str()), type, LDNS_RR_CLASS_IN, LDNS_RD));
  ldns_pkt_set_id(p.get(), 0x2a2a);
  return p;
}

Bytes signed_query(Pkt& q, const char* name = "key.example.", const char* alg = "hmac-sha256.", const char* b64 = secret) {
  REQUIRE(ldns_pkt_tsig_sign(q.get(), name, b64, 300, alg, nullptr) == LDNS_STATUS_OK);
  return to_wire(q.get());
}

QueryContext at_time(std::uint64_t t) {
  QueryContext ctx;
  ctx.now = t;
  return ctx;
}

// Whether ldns accepts the reply `r` as signed with `secret`, chained to the request `q`.
bool ldns_verifies(const Pkt& q, const Bytes& r, const char* b64 = secret) {
  Pkt p = from_wire(r);
  return ldns_pkt_tsig_verify(p.get(), r.data(), r.size(), "key.example.", b64, ldns_rr_rdf(ldns_pkt_tsig(q.get()), 3));
}

}  // namespace

TEST_CASE("tsig responder: a signed query gets a signed answer that ldns verifies", "[dns][tsig][responder]") {
  const ZoneSet zones = zones_with(one_key());
  Pkt q = query(test::name1, LDNS_RR_TYPE_SRV);
  const Bytes qw = signed_query(q);
  const Bytes r = respond(qw, zones, at_time(now()));
  Pkt p = from_wire(r);
  CHECK(ldns_pkt_get_rcode(p.get()) == LDNS_RCODE_NOERROR);
  CHECK(ldns_pkt_ancount(p.get()) == 1);
  REQUIRE(ldns_pkt_tsig(p.get()) != nullptr);
  CHECK(ldns_verifies(q, r));
  CHECK_FALSE(ldns_verifies(q, r, other_secret));
  const tsig::Record rec = record_of(r);
  CHECK(rec.error == 0);
  CHECK(tsig::verify_response(r, rec, key("key.example."), tsig::mac_of(qw, record_of(qw)), now()) == tsig::Check::ok);
}

TEST_CASE("tsig responder: NXDOMAIN, a refused zone and a TC answer are signed too", "[dns][tsig][responder]") {
  SECTION("NXDOMAIN and REFUSED") {
    const ZoneSet zones = zones_with(one_key());
    for (const char* name : {"nope._wireguard._udp.example.com.", "other.test."}) {
      Pkt q = query(name, LDNS_RR_TYPE_SRV);
      const Bytes r = respond(signed_query(q), zones, at_time(now()));
      CAPTURE(name);
      CHECK(ldns_verifies(q, r));
    }
  }
  SECTION("a PTR list that does not fit 512 bytes with a long key name: TC, still signed") {
    const std::string long_key = std::string(63, 'k') + "." + std::string(63, 'k') + "." + std::string(63, 'k') + ".example.";
    const ZoneSet zones = zones_with(one_key(long_key.c_str()));
    Pkt q = query("_wireguard._udp.example.com.", LDNS_RR_TYPE_PTR);
    const Bytes qw = signed_query(q, long_key.c_str());
    const Bytes r = respond(qw, zones, at_time(now()));
    REQUIRE(r.size() <= 512);
    Pkt p = from_wire(r);
    CHECK(ldns_pkt_tc(p.get()));
    Pkt rp = from_wire(r);
    CHECK(ldns_pkt_tsig_verify(rp.get(), r.data(), r.size(), long_key.c_str(), secret, ldns_rr_rdf(ldns_pkt_tsig(q.get()), 3)));
  }
}

TEST_CASE("tsig responder: each failed check gets the RFC 8945 reply", "[dns][tsig][responder]") {
  const ZoneSet zones = zones_with(one_key());
  struct Case {
    const char* what;
    const char* key_name;
    const char* alg;
    const char* b64;
    std::int64_t skew;
    std::uint16_t error;
    bool mac;  // the reply is signed
  };
  const std::vector<Case> cases = {
      {"unknown key name: BADKEY, unsigned", "nobody.example.", "hmac-sha256.", secret, 0, tsig::badkey, false},
      {"the key's name with another algorithm: BADKEY", "key.example.", "hmac-sha512.", secret, 0, tsig::badkey, false},
      {"wrong secret: BADSIG, unsigned", "key.example.", "hmac-sha256.", other_secret, 0, tsig::badsig, false},
      {"clock 301 s ahead: BADTIME, signed", "key.example.", "hmac-sha256.", secret, 301, tsig::badtime, true},
      {"clock 301 s behind: BADTIME, signed", "key.example.", "hmac-sha256.", secret, -301, tsig::badtime, true},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    Pkt q = query(test::name1, LDNS_RR_TYPE_SRV);
    const Bytes qw = signed_query(q, c.key_name, c.alg, c.b64);
    const std::uint64_t at = static_cast<std::uint64_t>(static_cast<std::int64_t>(now()) + c.skew);
    const Bytes r = respond(qw, zones, at_time(at));
    Pkt p = from_wire(r);
    CHECK(ldns_pkt_get_rcode(p.get()) == LDNS_RCODE_NOTAUTH);
    CHECK(ldns_pkt_ancount(p.get()) == 0);
    const tsig::Record rec = record_of(r);
    CHECK(rec.error == c.error);
    CHECK((rec.mac_length != 0) == c.mac);
    if (c.mac) {
      CHECK(ldns_verifies(q, r));
      // The request's time is echoed; the server's own is in other data.
      CHECK(rec.time_signed == record_of(qw).time_signed);
      REQUIRE(rec.other_length == 6);
      std::uint64_t server = 0;
      for (int i = 0; i < 6; ++i) server = (server << 8) | r[rec.other_offset + static_cast<std::size_t>(i)];
      CHECK(server == at);
    }
  }
}

TEST_CASE("tsig responder: a MAC cut below 16 bytes is FORMERR (RFC 8945 5.2.2.1), as a malformed TSIG", "[dns][tsig][responder]") {
  const ZoneSet zones = zones_with(one_key());
  Pkt q = query(test::name1, LDNS_RR_TYPE_SRV);
  Bytes qw = signed_query(q);
  const tsig::Record rec = record_of(qw);
  // Cut the MAC to 15 bytes, fixing MAC size and RDLENGTH.
  Bytes cut(qw.begin(), qw.begin() + static_cast<std::ptrdiff_t>(rec.mac_offset - 2));
  cut.push_back(0);
  cut.push_back(15);
  cut.insert(cut.end(), qw.begin() + static_cast<std::ptrdiff_t>(rec.mac_offset), qw.begin() + static_cast<std::ptrdiff_t>(rec.mac_offset + 15));
  cut.insert(cut.end(), qw.begin() + static_cast<std::ptrdiff_t>(rec.mac_offset + rec.mac_length), qw.end());
  const std::size_t rdlen_at = rec.start + rec.key_name_length + 8;
  cut[rdlen_at + 1] = static_cast<std::uint8_t>(cut[rdlen_at + 1] - 17);
  const Bytes r = respond(cut, zones, at_time(now()));
  CHECK((r[3] & 0x0f) == rcode::formerr);
  std::size_t owner = 0;
  CHECK(tsig::locate(r, owner) == tsig::Found::none);

  // A TSIG of class IN is no TSIG the RFC knows: FORMERR.
  Bytes in_class = qw;
  in_class[rec.start + rec.key_name_length + 3] = 1;
  const Bytes f = respond(in_class, zones, at_time(now()));
  CHECK((f[3] & 0x0f) == rcode::formerr);
}

TEST_CASE("tsig responder: unsigned TSIG errors echo the request's original ID, and without tsig a broken TSIG is FORMERR", "[dns][tsig][responder]") {
  // Signed with ID 0x2a2a, then sent with another ID (as a forwarder may): the MAC still covers the
  // original, and the error's TSIG repeats that original ID (RFC 8945 5.3).
  for (const char* name : {"nobody.example.", "key.example."}) {
    CAPTURE(name);
    Pkt q = query(test::name1, LDNS_RR_TYPE_SRV);
    Bytes qw = signed_query(q, name, "hmac-sha256.", name == std::string("key.example.") ? other_secret : secret);
    qw[0] = 0x55;
    qw[1] = 0x66;
    const Bytes r = respond(qw, zones_with(one_key()), at_time(now()));
    CHECK((r[3] & 0x0f) == rcode::notauth);
    CHECK(r[0] == 0x55);
    CHECK(r[1] == 0x66);
    CHECK(record_of(r).mac_length == 0);
    CHECK(record_of(r).original_id == 0x2a2a);
  }
  // No `tsig` anywhere: a well-formed TSIG is BADKEY (with the original ID), a malformed one FORMERR.
  const ZoneSet plain = test::reference_zones();
  Pkt q = query(test::name1, LDNS_RR_TYPE_SRV);
  Bytes qw = signed_query(q);
  qw[0] = 0x55;
  const Bytes k = respond(qw, plain, at_time(now()));
  CHECK((k[3] & 0x0f) == rcode::notauth);
  CHECK(record_of(k).error == tsig::badkey);
  CHECK(record_of(k).original_id == 0x2a2a);
  // Bytes after the TSIG: its RDATA no longer ends the message, so it cannot be read.
  for (const bool with_tsig : {false, true}) {
    Bytes trailing = qw;
    trailing.push_back(0);
    const Bytes f = respond(trailing, with_tsig ? zones_with(one_key()) : plain, at_time(now()));
    CAPTURE(with_tsig);
    CHECK((f[3] & 0x0f) == rcode::formerr);
    std::size_t owner = 0;
    CHECK(tsig::locate(f, owner) == tsig::Found::none);
  }
}

TEST_CASE("tsig responder: require refuses the listed types unsigned, inside the rule's zones", "[dns][tsig][responder]") {
  tsig::Policy p = one_key();
  p.rules[0].require = {type::srv};
  const ZoneSet zones = zones_with(p);
  auto rcode_of = [&](const Bytes& qw) { return respond(qw, zones, at_time(now()))[3] & 0x0f; };
  Pkt srv = query(test::name1, LDNS_RR_TYPE_SRV);
  Pkt a = query(test::name1, LDNS_RR_TYPE_A);
  CHECK(rcode_of(to_wire(srv.get())) == rcode::refused);
  CHECK(rcode_of(to_wire(a.get())) == rcode::noerror);
  CHECK(rcode_of(signed_query(srv)) == rcode::noerror);

  tsig::Policy all = one_key();
  all.rules[0].require_all = true;
  const ZoneSet zones_all = zones_with(all);
  CHECK((respond(to_wire(a.get()), zones_all, {})[3] & 0x0f) == rcode::refused);

  tsig::Policy elsewhere = one_key();
  elsewhere.rules[0].require_all = true;
  elsewhere.rules[0].zones = {*name_to_wire("other.test.")};
  const ZoneSet zones_elsewhere = zones_with(elsewhere);
  CHECK((respond(to_wire(a.get()), zones_elsewhere, {})[3] & 0x0f) == rcode::noerror);
}

TEST_CASE("tsig responder: hostile TSIG records get FORMERR or a TSIG error, never a crash or an unsigned answer", "[dns][tsig][responder]") {
  const ZoneSet zones = zones_with(one_key());
  Pkt q = query(test::name1, LDNS_RR_TYPE_SRV);
  const Bytes qw = signed_query(q);
  const tsig::Record rec = record_of(qw);
  const std::size_t rdlen_at = rec.start + rec.key_name_length + 8;
  auto rcode_and_error = [&](const Bytes& m) {
    const Bytes r = respond(m, zones, at_time(now()));
    REQUIRE(r.size() >= header_size);
    std::size_t owner = 0;
    const bool has_tsig = tsig::locate(r, owner) == tsig::Found::last;
    const int error = has_tsig ? static_cast<int>(tsig::read_record(r, owner)->error) : -1;
    return std::pair<int, int>{r[3] & 0x0f, error};
  };
  // The MAC cut or padded to every size from 0 to 70, MAC size and RDLENGTH kept honest: the
  // real MAC's first bytes verify from 16 bytes up; shorter or longer than 32 is FORMERR.
  for (std::size_t n = 0; n <= 70; ++n) {
    Bytes m(qw.begin(), qw.begin() + static_cast<std::ptrdiff_t>(rec.mac_offset - 2));
    m.push_back(0);
    m.push_back(static_cast<std::uint8_t>(n));
    for (std::size_t i = 0; i < n; ++i) m.push_back(i < rec.mac_length ? qw[rec.mac_offset + i] : 0xaa);
    m.insert(m.end(), qw.begin() + static_cast<std::ptrdiff_t>(rec.mac_offset + rec.mac_length), qw.end());
    const std::size_t rdlen = m.size() - (rdlen_at + 2);
    m[rdlen_at] = static_cast<std::uint8_t>(rdlen >> 8);
    m[rdlen_at + 1] = static_cast<std::uint8_t>(rdlen & 0xff);
    CAPTURE(n);
    const auto [rc, error] = rcode_and_error(m);
    if (n < 16) {
      CHECK(rc == rcode::formerr);
      CHECK(error == -1);
    } else if (n <= 32) {
      CHECK(rc == rcode::noerror);
      CHECK(error == 0);
    } else {
      CHECK(rc == rcode::formerr);
    }
  }
  // Lies in lengths: a MAC size or other length past the RDATA, an RDATA past the message, a
  // message cut inside the record. All FORMERR; none is answered from the zone.
  auto with = [&](std::size_t at, std::uint8_t hi, std::uint8_t lo) {
    Bytes m = qw;
    m[at] = hi;
    m[at + 1] = lo;
    return m;
  };
  CHECK(rcode_and_error(with(rec.mac_offset - 2, 0xff, 0xff)).first == rcode::formerr);
  CHECK(rcode_and_error(with(rec.other_offset - 2, 0x10, 0x00)).first == rcode::formerr);
  CHECK(rcode_and_error(with(rdlen_at, 0xff, 0xff)).first == rcode::formerr);
  for (std::size_t cut = rec.start + 1; cut < qw.size(); cut += 7) {
    CAPTURE(cut);
    CHECK(rcode_and_error(Bytes(qw.begin(), qw.begin() + static_cast<std::ptrdiff_t>(cut))).first == rcode::formerr);
  }
  // TTL other than 0: not a TSIG the RFC knows.
  CHECK(rcode_and_error(with(rec.start + rec.key_name_length + 4, 0, 1)).first == rcode::formerr);
  // Huge other data, with RDLENGTH honest: it is covered by the MAC, so it fails the MAC.
  {
    Bytes m(qw.begin(), qw.begin() + static_cast<std::ptrdiff_t>(rec.other_offset - 2));
    m.push_back(0x0f);
    m.push_back(0xa0);
    m.insert(m.end(), 4000, 0x55);
    const std::size_t rdlen = m.size() - (rdlen_at + 2);
    m[rdlen_at] = static_cast<std::uint8_t>(rdlen >> 8);
    m[rdlen_at + 1] = static_cast<std::uint8_t>(rdlen & 0xff);
    const auto [rc, error] = rcode_and_error(m);
    CHECK(rc == rcode::notauth);
    CHECK(error == tsig::badsig);
  }
  // An algorithm nobody implements under the known key's name: BADKEY.
  Pkt md5 = query(test::name1, LDNS_RR_TYPE_SRV);
  REQUIRE(ldns_pkt_tsig_sign(md5.get(), "key.example.", secret, 300, "hmac-md5.sig-alg.reg.int.", nullptr) == LDNS_STATUS_OK);
  const auto [rc, error] = rcode_and_error(to_wire(md5.get()));
  CHECK(rc == rcode::notauth);
  CHECK(error == tsig::badkey);
}
