// TSIG beside `acl`, and whose keys count where: a signed query is verified before the acl judges
// it, so a refused or filtered answer to it is signed; a key is accepted only for the zones of the
// `tsig` that names it, inside its own server block.
#include <catch2/catch.hpp>

#include <sys/socket.h>

#include <memory>
#include <string>
#include <vector>

#include "dns/fixtures.hpp"
#include "dns/responder.hpp"
#include "dns/tsig.hpp"
#include "dns/tsig_case.hpp"
#include "dns/wire.hpp"
#include "server/acl.hpp"
#include "server/config.hpp"
#include "server/tsig_keys.hpp"

#include <ldns/ldns.h>  // after the standard headers: it defines bool macros

using namespace wgsd;
using namespace wgsd::dns;
using namespace wgsd::test;

namespace {

constexpr const char* secret = "c2VjcmV0LWZvci13Z3NkLXRzaWctdGVzdHMtMzItYnl0ZXM=";
constexpr const char* other_secret = "d3Jvbmctc2VjcmV0LWZvci10aGUtc2FtZS1rZXktbmFtZQ==";

// The reference zones with the acl and TSIG policy the server compiles from `corefile` for sockets
// all of its blocks listen on.
ZoneSet zones_of(const std::string& corefile) {
  const auto config = server::parse_config(corefile, "Corefile");
  std::vector<const server::BlockConfig*> blocks;
  for (const auto& b : config.blocks) blocks.push_back(&b);
  ZoneSet z = reference_zones();
  z.acl = server::compile_acl(blocks);
  z.tsig = server::compile_tsig(blocks);
  return z;
}

Pkt query(const std::string& name, ldns_rr_type type, bool edns = false) {
  Pkt p(ldns_pkt_query_new(ldns_dname_new_frm_str(name.c_str()), type, LDNS_RR_CLASS_IN, LDNS_RD));
  ldns_pkt_set_id(p.get(), 0x2a2a);
  if (edns) {
    ldns_pkt_set_edns_udp_size(p.get(), 1232);
    ldns_pkt_set_edns_do(p.get(), false);
  }
  return p;
}

Bytes signed_query(Pkt& q, const char* name = "key.example.", const char* b64 = secret) {
  REQUIRE(ldns_pkt_tsig_sign(q.get(), name, b64, 300, "hmac-sha256.", nullptr) == LDNS_STATUS_OK);
  return to_wire(q.get());
}

// The reply to `qw` from `source` (an IPv4 address) over `transport`; empty: nothing sent.
Bytes answer(const ZoneSet& zones, const Bytes& qw, const char* source, Transport transport = Transport::udp, ResponseInfo* info = nullptr) {
  const auto ip = wg::IpAddress::parse(source);
  REQUIRE(ip);
  sockaddr_storage ss{};
  wg::Endpoint{*ip, 5353}.to_sockaddr(ss);
  QueryContext ctx;
  ctx.transport = transport;
  ctx.source = reinterpret_cast<const sockaddr*>(&ss);
  ctx.now = now();
  Bytes out(max_message);
  out.resize(respond(qw, zones, ctx, out, info));
  return out;
}

bool ldns_verifies(const Pkt& q, const Bytes& r, const char* name = "key.example.", const char* b64 = secret) {
  Pkt p = from_wire(r);
  return ldns_pkt_tsig_verify(p.get(), r.data(), r.size(), name, b64, ldns_rr_rdf(ldns_pkt_tsig(q.get()), 3));
}

// The TSIG error of the record ending `r`, or -1 without one.
int tsig_error(const Bytes& r) {
  std::size_t owner = 0;
  if (tsig::locate(r, owner) != tsig::Found::last) return -1;
  const auto rec = tsig::read_record(r, owner);
  return rec ? rec->error : -1;
}

const std::string acl_corefile =
    ".:53 {\n wgsd example.com. wg0 {\n  ns ns.example.\n }\n"
    " acl {\n  block net 127.0.0.1\n  filter net 127.0.0.2\n  drop net 127.0.0.3\n }\n"
    " tsig {\n  secret key.example. " +
    std::string(secret) + "\n }\n}\n";

}  // namespace

TEST_CASE("tsig and acl: a signed query refused or filtered by the acl gets a signed answer", "[dns][tsig][acl]") {
  const ZoneSet zones = zones_of(acl_corefile);
  REQUIRE(zones.acl);
  REQUIRE(zones.tsig);
  for (const auto transport : {Transport::udp, Transport::tcp}) {
    for (const bool edns : {false, true}) {
      INFO((transport == Transport::udp ? "udp" : "tcp") << (edns ? " with EDNS" : ""));
      // block: REFUSED (with EDE 18 under EDNS), signed over the request's MAC.
      Pkt q = query(name1, LDNS_RR_TYPE_SRV, edns);
      Bytes r = answer(zones, signed_query(q), "127.0.0.1", transport);
      REQUIRE(r.size() > header_size);
      CHECK((r[3] & 0x0f) == rcode::refused);
      CHECK(tsig_error(r) == 0);
      CHECK(ldns_verifies(q, r));
      CHECK_FALSE(ldns_verifies(q, r, "key.example.", other_secret));

      // filter: the empty NOERROR, signed.
      Pkt f = query(name1, LDNS_RR_TYPE_SRV, edns);
      r = answer(zones, signed_query(f), "127.0.0.2", transport);
      REQUIRE(r.size() > header_size);
      CHECK((r[3] & 0x0f) == rcode::noerror);
      CHECK(ldns_pkt_ancount(from_wire(r).get()) == 0);
      CHECK(ldns_verifies(f, r));

      // drop: nothing at all, signed or not, a good key or a bad one.
      ResponseInfo info;
      Pkt d = query(name1, LDNS_RR_TYPE_SRV, edns);
      CHECK(answer(zones, signed_query(d), "127.0.0.3", transport, &info).empty());
      CHECK(info.dropped_by_acl);
      Pkt bad = query(name1, LDNS_RR_TYPE_SRV, edns);
      CHECK(answer(zones, signed_query(bad, "nobody.example."), "127.0.0.3", transport).empty());
    }
  }
}

TEST_CASE("tsig and acl: the signature is checked before the acl, its errors answered as RFC 8945 says", "[dns][tsig][acl]") {
  const ZoneSet zones = zones_of(acl_corefile);
  for (const char* source : {"127.0.0.1", "127.0.0.2"}) {
    CAPTURE(source);
    // An unknown key or a wrong secret from a blocked or filtered source: NOTAUTH with the TSIG
    // error, unsigned, not the acl's answer.
    Pkt unknown = query(name1, LDNS_RR_TYPE_SRV);
    Bytes r = answer(zones, signed_query(unknown, "nobody.example."), source);
    CHECK((r[3] & 0x0f) == rcode::notauth);
    CHECK(tsig_error(r) == tsig::badkey);
    Pkt wrong = query(name1, LDNS_RR_TYPE_SRV);
    r = answer(zones, signed_query(wrong, "key.example.", other_secret), source);
    CHECK((r[3] & 0x0f) == rcode::notauth);
    CHECK(tsig_error(r) == tsig::badsig);
  }
  // Unsigned queries from those sources are judged by the acl as before.
  CHECK((answer(zones, to_wire(query(name1, LDNS_RR_TYPE_SRV).get()), "127.0.0.1")[3] & 0x0f) == rcode::refused);
  CHECK(ldns_pkt_ancount(from_wire(answer(zones, to_wire(query(name1, LDNS_RR_TYPE_SRV).get()), "127.0.0.2")).get()) == 0);
  // Everyone else gets the signed answer from the zone.
  Pkt ok = query(name1, LDNS_RR_TYPE_SRV);
  const Bytes r = answer(zones, signed_query(ok), "127.0.0.9");
  CHECK(ldns_pkt_ancount(from_wire(r).get()) == 1);
  CHECK(ldns_verifies(ok, r));
}

namespace {

// The reply's rcode and TSIG error (-1: no TSIG) to `name` signed with `key_name`/`b64`.
std::pair<int, int> signed_outcome(const ZoneSet& zones, const std::string& name, const char* key_name, const char* b64) {
  Pkt q = query(name, LDNS_RR_TYPE_SRV);
  const Bytes r = answer(zones, signed_query(q, key_name, b64), "127.0.0.9");
  REQUIRE(r.size() > header_size);
  const int error = tsig_error(r);
  if (error == 0) CHECK(ldns_verifies(q, r, key_name, b64));
  return {r[3] & 0x0f, error};
}

const std::pair<int, int> signed_ok_refused{rcode::refused, 0};
const std::pair<int, int> signed_ok_answer{rcode::noerror, 0};
const std::pair<int, int> badkey{rcode::notauth, tsig::badkey};

}  // namespace

TEST_CASE("tsig scope: two server blocks on the same sockets accept only their own keys", "[dns][tsig]") {
  const ZoneSet zones = zones_of(std::string(
                                     "example.com.:53 {\n wgsd example.com. wg0 {\n  ns ns.example.\n }\n tsig {\n  secret a.key. ") +
                                 secret + "\n }\n}\nother.test.:53 {\n wgsd other.test. wg1 {\n  ns ns.example.\n }\n tsig {\n  secret b.key. " +
                                 other_secret + "\n }\n}\n");
  REQUIRE(zones.tsig);
  CHECK(signed_outcome(zones, name1, "a.key.", secret) == signed_ok_answer);
  CHECK(signed_outcome(zones, name1, "b.key.", other_secret) == badkey);
  CHECK(signed_outcome(zones, "x._wireguard._udp.other.test.", "b.key.", other_secret) == signed_ok_refused);
  CHECK(signed_outcome(zones, "x._wireguard._udp.other.test.", "a.key.", secret) == badkey);
  // A name of neither block: no key is accepted for it.
  CHECK(signed_outcome(zones, "elsewhere.test.", "a.key.", secret) == badkey);
}

TEST_CASE("tsig scope: tsig ZONE... accepts its keys only inside its zones", "[dns][tsig]") {
  const ZoneSet zones = zones_of(std::string(".:53 {\n wgsd example.com. wg0 {\n  ns ns.example.\n }\n wgsd other.test. wg1 {\n  ns ns.example.\n }\n"
                                             " tsig example.com. {\n  secret a.key. ") +
                                 secret + "\n }\n tsig other.test. {\n  secret b.key. " + other_secret + "\n  require all\n }\n}\n");
  CHECK(signed_outcome(zones, name1, "a.key.", secret) == signed_ok_answer);
  CHECK(signed_outcome(zones, name1, "b.key.", other_secret) == badkey);
  CHECK(signed_outcome(zones, "x.other.test.", "b.key.", other_secret) == signed_ok_refused);
  CHECK(signed_outcome(zones, "x.other.test.", "a.key.", secret) == badkey);
  // `require all` of other.test. does not reach example.com.
  CHECK((answer(zones, to_wire(query(name1, LDNS_RR_TYPE_SRV).get()), "127.0.0.9")[3] & 0x0f) == rcode::noerror);
}

TEST_CASE("tsig scope: a block without tsig beside one with it accepts no key for its zones", "[dns][tsig]") {
  const ZoneSet zones = zones_of(std::string("example.com.:53 {\n wgsd example.com. wg0 {\n  ns ns.example.\n }\n}\n"
                                             ".:53 {\n wgsd other.test. wg1 {\n  ns ns.example.\n }\n tsig {\n  secret a.key. ") +
                                 secret + "\n  require all\n }\n}\n");
  // example.com. belongs to its own block, though the root block's tsig covers every name.
  CHECK(signed_outcome(zones, name1, "a.key.", secret) == badkey);
  CHECK((answer(zones, to_wire(query(name1, LDNS_RR_TYPE_SRV).get()), "127.0.0.9")[3] & 0x0f) == rcode::noerror);
  CHECK(signed_outcome(zones, "x.other.test.", "a.key.", secret) == signed_ok_refused);
  CHECK((answer(zones, to_wire(query("x.other.test.", LDNS_RR_TYPE_SRV).get()), "127.0.0.9")[3] & 0x0f) == rcode::refused);
}

TEST_CASE("tsig scope: one key name with a different secret in each block verifies with the block's own", "[dns][tsig]") {
  const ZoneSet zones = zones_of(std::string(
                                     "example.com.:53 {\n wgsd example.com. wg0 {\n  ns ns.example.\n }\n tsig {\n  secret shared.key. ") +
                                 secret + "\n }\n}\nother.test.:53 {\n wgsd other.test. wg1 {\n  ns ns.example.\n }\n tsig {\n  secret shared.key. " +
                                 other_secret + "\n }\n}\n");
  CHECK(signed_outcome(zones, name1, "shared.key.", secret) == signed_ok_answer);
  CHECK(signed_outcome(zones, "x.other.test.", "shared.key.", other_secret) == signed_ok_refused);
  CHECK(signed_outcome(zones, name1, "shared.key.", other_secret) == std::pair<int, int>{rcode::notauth, tsig::badsig});
  CHECK(signed_outcome(zones, "x.other.test.", "shared.key.", secret) == std::pair<int, int>{rcode::notauth, tsig::badsig});
}

TEST_CASE("tsig and acl: a blocked signed query under EDNS 512 with a long key name always gets a signed REFUSED", "[dns][tsig][acl]") {
  // A key name of 4 x 60 octets: the TSIG record takes over 300 of the 512 bytes, so the question,
  // the OPT with its EDE option and the signature only just fit, or do not.
  std::string key_name;
  for (const char c : {'a', 'b', 'c', 'd'}) key_name += std::string(60, c) + ".";
  const ZoneSet zones = zones_of(".:53 {\n wgsd example.com. wg0 {\n  ns ns.example.\n }\n acl {\n  block net 127.0.0.1\n }\n"
                                 " tsig {\n  secret " + key_name + " " + std::string(secret) + "\n }\n}\n");
  for (const auto transport : {Transport::udp, Transport::tcp}) {
    // Question names from 143 to 205 octets: across the point where the EDE option no longer fits.
    for (std::size_t n = 1; n <= 63; ++n) {
      const std::string qname = std::string(n, 'x') + "." + std::string(63, 'y') + "." + std::string(63, 'z') + ".example.com.";
      INFO((transport == Transport::udp ? "udp " : "tcp ") << "first label " << n);
      Pkt q = query(qname, LDNS_RR_TYPE_SRV, true);
      ldns_pkt_set_edns_udp_size(q.get(), 512);
      Bytes qw = signed_query(q, key_name.c_str());
      const Bytes r = answer(zones, qw, "127.0.0.1", transport);
      REQUIRE(r.size() > header_size);
      if (transport == Transport::udp) CHECK(r.size() <= 512);
      CHECK((r[3] & 0x0f) == rcode::refused);
      CHECK(tsig_error(r) == 0);
      CHECK(ldns_verifies(q, r, key_name.c_str()));
    }
  }
}
