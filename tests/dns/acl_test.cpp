// `acl`: the pure decision over (source, type, name) from Corefile text, and the replies the
// responder writes for block, filter and drop, checked byte by byte.
#include <catch2/catch.hpp>

#include "dns/acl.hpp"
#include "dns/fixtures.hpp"
#include "dns/responder.hpp"
#include "dns/wire.hpp"
#include "server/acl.hpp"
#include "server/config.hpp"
#include "support/dns_case.hpp"

using namespace wgsd;
using namespace wgsd::test;
using dns::AclAction;

namespace {

// The acl of a Corefile's blocks, as the server compiles it for sockets all of them listen on.
std::shared_ptr<const dns::Acl> acl_of(const std::string& corefile) {
  const auto config = server::parse_config(corefile, "Corefile");
  std::vector<const server::BlockConfig*> blocks;
  for (const auto& b : config.blocks) blocks.push_back(&b);
  return server::compile_acl(blocks);
}

AclAction decide(const dns::Acl& acl, const std::string& source, std::uint16_t qtype, const std::string& name) {
  const auto ip = wg::IpAddress::parse(source);
  REQUIRE(ip);
  const auto wire = dns::name_to_wire(name);
  REQUIRE(wire);
  return acl.decide(*ip, qtype, *wire);
}

const char* to_string(AclAction a) {
  switch (a) {
    case AclAction::allow: return "allow";
    case AclAction::block: return "block";
    case AclAction::filter: return "filter";
    case AclAction::drop: return "drop";
  }
  return "?";
}

}  // namespace

TEST_CASE("acl: statements x sources x types, first match decides, no match allows", "[acl]") {
  const auto acl = acl_of(
      ".:53 {\n"
      " wgsd example.com. wg0 {\n  ns ns.example.\n }\n"
      " acl {\n"
      "  allow type SRV TXT net 127.0.0.2/32 ::1\n"
      "  drop type AAAA\n"
      "  filter type PTR net 10.0.0.0/8 fd00::/8\n"
      "  block net 127.0.0.0/24 2001:db8::/32\n"
      "  allow net *\n"
      "  block\n"
      " }\n"
      "}\n");
  REQUIRE(acl);
  struct Case { std::string source; std::uint16_t type; AclAction want; };
  const std::vector<Case> cases = {
      {"127.0.0.2", dns::type::srv, AclAction::allow},   // first statement
      {"127.0.0.2", dns::type::txt, AclAction::allow},
      {"::1", dns::type::srv, AclAction::allow},
      {"127.0.0.2", dns::type::aaaa, AclAction::drop},   // type decides before net
      {"127.0.0.1", dns::type::srv, AclAction::block},   // not the allowed host: falls to the /24
      {"127.0.0.2", dns::type::a, AclAction::block},     // allowed types only
      {"10.1.2.3", dns::type::ptr, AclAction::filter},
      {"fd12::1", dns::type::ptr, AclAction::filter},
      {"10.1.2.3", dns::type::a, AclAction::allow},      // `allow net *` ends the search: the last block never counts
      {"2001:db8::5", dns::type::ptr, AclAction::block},
      {"2001:db9::5", dns::type::ptr, AclAction::allow},
      {"::ffff:127.0.0.9", dns::type::a, AclAction::block},  // IPv4-mapped is IPv4
  };
  for (const auto& c : cases) {
    INFO(c.source << " " << dns::type_name(c.type));
    CHECK(to_string(decide(*acl, c.source, c.type, "x.example.com.")) == std::string(to_string(c.want)));
  }
}

TEST_CASE("acl: without a matching statement the query is allowed, and type * and net * match all", "[acl]") {
  const auto acl = acl_of(".:53 {\n wgsd example.com. wg0 {\n  ns ns.example.\n }\n acl {\n  block type A net 192.0.2.0/25\n  drop type * net *\n }\n}\n");
  REQUIRE(acl);
  CHECK(decide(*acl, "192.0.2.1", dns::type::a, "example.com.") == AclAction::block);
  CHECK(decide(*acl, "192.0.2.200", dns::type::a, "example.com.") == AclAction::drop);
  const auto allow_none = acl_of(".:53 {\n wgsd example.com. wg0 {\n  ns ns.example.\n }\n acl {\n  block type A net 192.0.2.0/25\n }\n}\n");
  CHECK(decide(*allow_none, "192.0.2.200", dns::type::a, "example.com.") == AclAction::allow);
  CHECK(decide(*allow_none, "192.0.2.1", dns::type::txt, "example.com.") == AclAction::allow);
  // A CIDR with host bits set covers its network, as CoreDNS reads it.
  const auto host_bits = acl_of(".:53 {\n wgsd example.com. wg0 {\n  ns ns.example.\n }\n acl {\n  block net 192.0.2.77/30\n }\n}\n");
  CHECK(decide(*host_bits, "192.0.2.76", dns::type::a, "example.com.") == AclAction::block);
  CHECK(decide(*host_bits, "192.0.2.80", dns::type::a, "example.com.") == AclAction::allow);
}

TEST_CASE("acl: rules are scoped to their zones, several acl blocks are tried in order", "[acl]") {
  const auto acl = acl_of(
      ".:53 {\n"
      " wgsd example.com. wg0 {\n  ns ns.example.\n }\n"
      " acl _wireguard._udp.example.com. {\n"
      "  block net 127.0.0.1\n"
      " }\n"
      " acl {\n"
      "  filter type TXT\n"
      "  allow net 127.0.0.0/8\n"
      " }\n"
      " acl EXAMPLE.com {\n"
      "  drop\n"
      " }\n"
      "}\n");
  REQUIRE(acl);
  CHECK(decide(*acl, "127.0.0.1", dns::type::srv, "peer._wireguard._udp.example.com.") == AclAction::block);
  CHECK(decide(*acl, "127.0.0.1", dns::type::srv, "example.com.") == AclAction::allow);  // outside the first rule's zone
  CHECK(decide(*acl, "127.0.0.1", dns::type::txt, "example.com.") == AclAction::filter);
  CHECK(decide(*acl, "192.0.2.1", dns::type::srv, "example.com.") == AclAction::drop);   // no statement of rule 2: rule 3
  CHECK(decide(*acl, "192.0.2.1", dns::type::srv, "other.org.") == AclAction::allow);    // rule 3 is for example.com only
  CHECK(decide(*acl, "192.0.2.1", dns::type::txt, "other.org.") == AclAction::filter);   // rule 2 covers the block's "."
  // A label boundary, not a string suffix.
  CHECK(decide(*acl, "192.0.2.1", dns::type::srv, "notexample.com.") == AclAction::allow);
}

TEST_CASE("acl: a query is judged only by the block that serves its zone", "[acl]") {
  const auto acl = acl_of(
      "example.com:53 {\n wgsd example.com. wg0 {\n  ns ns.example.\n }\n acl {\n  block\n }\n}\n"
      "other.org:53 {\n wgsd other.org. wg1 {\n  ns ns.example.\n }\n}\n"
      ".:53 {\n wgsd third.net. wg2 {\n  ns ns.example.\n }\n acl {\n  drop net 127.0.0.0/8\n }\n}\n");
  REQUIRE(acl);
  CHECK(decide(*acl, "127.0.0.1", dns::type::srv, "a.example.com.") == AclAction::block);
  CHECK(decide(*acl, "127.0.0.1", dns::type::srv, "a.other.org.") == AclAction::allow);  // its block has no acl
  CHECK(decide(*acl, "127.0.0.1", dns::type::srv, "third.net.") == AclAction::drop);
  CHECK(decide(*acl, "127.0.0.1", dns::type::srv, "unserved.test.") == AclAction::drop);  // the "." block's
  CHECK(decide(*acl, "192.0.2.1", dns::type::srv, "third.net.") == AclAction::allow);
  // Blocks without any acl: nothing to ask.
  CHECK_FALSE(acl_of("example.com:53 {\n wgsd example.com. wg0 {\n  ns ns.example.\n }\n}\n"));
}

TEST_CASE("acl: networks parse as CIDRs or hosts, and nothing else", "[acl]") {
  CHECK(dns::parse_acl_net("10.0.0.0/8"));
  CHECK(dns::parse_acl_net("192.0.2.1"));
  CHECK(dns::parse_acl_net("::/0"));
  CHECK(dns::parse_acl_net("2001:db8::/128"));
  for (const char* bad : {"10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/-1", "10.0.0/8", "example.com", "10.0.0.0/8x", "", "/8"}) {
    INFO(bad);
    CHECK_FALSE(dns::parse_acl_net(bad));
  }
  const auto net = dns::parse_acl_net("10.255.255.255/9");
  REQUIRE(net);
  const std::uint8_t inside[4] = {10, 128, 0, 1}, outside[4] = {10, 127, 255, 255};  // 10.128.0.0/9
  CHECK(net->contains(false, inside));
  CHECK_FALSE(net->contains(false, outside));
  CHECK_FALSE(net->contains(true, inside));  // another family never matches
}

namespace {

std::vector<std::uint8_t> answer(const dns::ZoneSet& zones, const std::vector<std::uint8_t>& q, const std::string& source,
                                 dns::ResponseInfo* info = nullptr, dns::Transport transport = dns::Transport::udp) {
  const auto ip = wg::IpAddress::parse(source);
  REQUIRE(ip);
  sockaddr_storage ss{};
  wg::Endpoint{*ip, 5353}.to_sockaddr(ss);
  dns::QueryContext ctx{transport, std::nullopt, reinterpret_cast<const sockaddr*>(&ss)};
  std::vector<std::uint8_t> out(dns::max_message);
  out.resize(dns::respond(q, zones, ctx, out, info));
  return out;
}

}  // namespace

TEST_CASE("acl replies: block is REFUSED with EDE 18 when asked with EDNS, filter an empty NOERROR, drop nothing", "[acl]") {
  dns::ZoneSet zones = reference_zones();
  zones.acl = acl_of(
      ".:53 {\n wgsd example.com. wg0 {\n  ns ns.example.\n }\n acl {\n"
      "  block net 127.0.0.1\n  filter net 127.0.0.2\n  drop net 127.0.0.3\n }\n}\n");
  REQUIRE(zones.acl);
  const auto plain = make_query(name1, LDNS_RR_TYPE_SRV);
  QueryOptions o;
  o.edns = true;
  o.dnssec_ok = true;
  const auto with_edns = make_query(name1, LDNS_RR_TYPE_SRV, o);
  const std::size_t question = plain.size() - dns::header_size;  // name, type, class

  for (const auto transport : {dns::Transport::udp, dns::Transport::tcp}) {
    INFO((transport == dns::Transport::udp ? "udp" : "tcp"));
    // block, with EDNS: header, question, OPT whose RDATA is exactly one EDE option of code 18.
    auto r = answer(zones, with_edns, "127.0.0.1", nullptr, transport);
    const std::vector<std::uint8_t> header = {0x12, 0x34, 0x80, 0x05, 0, 1, 0, 0, 0, 0, 0, 1};
    REQUIRE(r.size() == dns::header_size + question + 11 + 6);
    CHECK(std::vector<std::uint8_t>(r.begin(), r.begin() + 12) == header);
    CHECK(std::equal(r.begin() + 12, r.begin() + 12 + static_cast<std::ptrdiff_t>(question), plain.begin() + 12));
    const std::vector<std::uint8_t> opt = {0, 0, 41, 0x04, 0xd0, 0, 0, 0x80, 0, 0, 6, 0, 15, 0, 2, 0, 18};
    CHECK(std::vector<std::uint8_t>(r.end() - 17, r.end()) == opt);
    // ldns reads it the same way.
    const auto pkt = parse_response(r);
    REQUIRE(pkt);
    CHECK(ldns_pkt_get_rcode(pkt.get()) == LDNS_RCODE_REFUSED);
    CHECK_FALSE(ldns_pkt_aa(pkt.get()));
    CHECK(ldns_pkt_edns(pkt.get()));

    // block, without EDNS: the bare REFUSED, no OPT.
    r = answer(zones, plain, "127.0.0.1", nullptr, transport);
    REQUIRE(r.size() == dns::header_size + question);
    CHECK(std::vector<std::uint8_t>(r.begin(), r.begin() + 12) == std::vector<std::uint8_t>{0x12, 0x34, 0x80, 0x05, 0, 1, 0, 0, 0, 0, 0, 0});

    // filter: NOERROR, AA, the question, nothing else (the OPT is echoed, without EDE).
    r = answer(zones, with_edns, "127.0.0.2", nullptr, transport);
    REQUIRE(r.size() == dns::header_size + question + 11);
    CHECK(std::vector<std::uint8_t>(r.begin(), r.begin() + 12) == std::vector<std::uint8_t>{0x12, 0x34, 0x84, 0x00, 0, 1, 0, 0, 0, 0, 0, 1});
    r = answer(zones, plain, "127.0.0.2", nullptr, transport);
    CHECK(std::vector<std::uint8_t>(r.begin(), r.begin() + 12) == std::vector<std::uint8_t>{0x12, 0x34, 0x84, 0x00, 0, 1, 0, 0, 0, 0, 0, 0});

    // drop: nothing, and the responder says why.
    dns::ResponseInfo info;
    CHECK(answer(zones, with_edns, "127.0.0.3", &info, transport).empty());
    CHECK(info.dropped_by_acl);

    // Anybody else: the normal answer.
    const auto ok = parse_response(answer(zones, plain, "127.0.0.4", &info, transport));
    REQUIRE(ok);
    CHECK(ldns_pkt_get_rcode(ok.get()) == LDNS_RCODE_NOERROR);
    CHECK(ldns_pkt_ancount(ok.get()) == 1);
    CHECK_FALSE(info.dropped_by_acl);
  }
}

TEST_CASE("acl replies: every opcode is judged, and a message that does not parse is answered as before", "[acl]") {
  dns::ZoneSet zones = reference_zones();
  zones.acl = acl_of(".:53 {\n wgsd example.com. wg0 {\n  ns ns.example.\n }\n acl {\n  block net 127.0.0.1\n }\n}\n");
  auto notify = make_query("example.com.", LDNS_RR_TYPE_SOA);
  notify[2] = static_cast<std::uint8_t>(4 << 3);  // opcode NOTIFY
  auto r = answer(zones, notify, "127.0.0.1");
  REQUIRE(r.size() >= 12);
  CHECK((r[3] & 0x0f) == dns::rcode::refused);
  CHECK(r[2] == (0x80 | (4 << 3)));  // opcode echoed
  // A transfer is judged like any other question (and refused by the acl before anything else).
  r = answer(zones, make_query("example.com.", LDNS_RR_TYPE_AXFR), "127.0.0.1", nullptr, dns::Transport::tcp);
  CHECK((r[3] & 0x0f) == dns::rcode::refused);
  // A truncated question: FORMERR as without an acl, not REFUSED.
  auto broken = make_query(name1, LDNS_RR_TYPE_SRV);
  broken.resize(broken.size() - 3);
  r = answer(zones, broken, "127.0.0.1");
  REQUIRE(r.size() >= 12);
  CHECK((r[3] & 0x0f) == dns::rcode::formerr);
}

TEST_CASE("acl: query types by mnemonic in any case, meta types and TYPEnnn", "[acl]") {
  const auto acl = acl_of(".:53 {\n wgsd example.com. wg0 {\n  ns ns.example.\n }\n acl {\n  block type srv AXFR ixfr ANY TYPE65\n }\n}\n");
  REQUIRE(acl);
  for (const std::uint16_t t : {dns::type::srv, dns::type::axfr, dns::type::ixfr, dns::type::any, std::uint16_t{65}}) {
    INFO(t);
    CHECK(decide(*acl, "192.0.2.1", t, "example.com.") == AclAction::block);
  }
  CHECK(decide(*acl, "192.0.2.1", dns::type::txt, "example.com.") == AclAction::allow);
}
