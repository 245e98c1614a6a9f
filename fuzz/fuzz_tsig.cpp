// TSIG on the server side: any bytes as a query to a snapshot whose server blocks have keys
// (hmac-sha256 and hmac-sha512, one block with its own key and `require all`) and an acl that
// blocks AAAA, filters TXT and drops NS, and the same bytes signed with a good key. Beyond "no crash": a query that ends in a TSIG record is never answered
// without one (only FORMERR, or NOTAUTH with TC when the record cannot fit, may go without), every
// reply parses, and a signed reply verifies with the key the query was signed with.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "dns/acl.hpp"
#include "dns/responder.hpp"
#include "dns/tsig.hpp"
#include "fuzz_zone.hpp"

// Last: ldns's headers break libstdc++'s under clang when they come first (as src/client/reply.cpp).
#include <ldns/ldns.h>

using namespace wgsd;

namespace {

// The time every seed in fuzz/corpus/tsig was signed at: the server's clock here.
constexpr std::uint64_t seed_time = 1700000000;

dns::tsig::Key key(const char* name, const char* alg, const char* b64) {
  std::string error;
  auto k = dns::tsig::make_key(name, alg, b64, error);
  if (!k) std::abort();
  return *k;
}

const dns::tsig::Key& k256() {
  static const dns::tsig::Key k = key("key.example.", "hmac-sha256", "c2VjcmV0LWZvci13Z3NkLXRzaWctdGVzdHMtMzItYnl0ZXM=");
  return k;
}
const dns::tsig::Key& k512() {
  static const dns::tsig::Key k =
      key("k512.example.", "hmac-sha512", "bG9uZ2VyLXNlY3JldC1mb3ItaG1hYy1zaGE1MTItaW4td2dzZC10c2lnLXRlc3RzLTY0LWJ5dGVzLW9mLWtleQ==");
  return k;
}

dns::ZoneSet zones() {
  dns::ZoneSet set = fuzz::zones();
  auto policy = std::make_shared<dns::tsig::Policy>();
  policy->blocks = {{{std::string(1, '\0')}, {*dns::name_to_wire("example.com.")}},
                    {{*dns::name_to_wire("sub.example.com.")}, {*dns::name_to_wire("sub.example.com.")}}};
  dns::tsig::Rule all;
  all.keys = {k256(), k512()};
  all.require = {dns::type::txt};
  dns::tsig::Rule sub;
  sub.block = 1;
  sub.zones = {*dns::name_to_wire("sub.example.com.")};
  sub.keys = {key("sub.example.", "hmac-sha256", "c3ViLXpvbmUta2V5LWZvci13Z3NkLWZ1enppbmctMzI=")};
  sub.require_all = true;
  sub.fudge = 5;
  policy->rules = {all, sub};
  set.tsig = policy;
  dns::AclRule acl{{"."}, {}};
  acl.statements = {{dns::AclAction::block, {dns::type::aaaa}, {}},
                    {dns::AclAction::filter, {dns::type::txt}, {}},
                    {dns::AclAction::drop, {dns::type::ns}, {}}};
  set.acl = std::make_shared<const dns::Acl>(std::vector<dns::Acl::Block>{{{"."}, {"example.com.", "sub.example.com."}, {acl}}});
  return set;
}

bool has_tsig(std::span<const std::uint8_t> msg, std::optional<dns::tsig::Record>& rec) {
  std::size_t owner = 0;
  if (dns::tsig::locate(msg, owner) != dns::tsig::Found::last) return false;
  rec = dns::tsig::read_record(msg, owner);
  return rec.has_value();
}

// Answers `query` over both transports and checks the reply; `signer`: the key `query` was signed
// with just now (its reply must then verify with it), or null.
void check(std::span<const std::uint8_t> query, const dns::ZoneSet& zones, const dns::tsig::Key* signer) {
  static std::vector<std::uint8_t> out(dns::max_message);
  std::optional<dns::tsig::Record> qrec;
  const bool signed_query = has_tsig(query, qrec);
  for (auto transport : {dns::Transport::udp, dns::Transport::tcp}) {
    dns::QueryContext ctx{transport, wg::IpAddress::parse("192.0.2.1")};
    ctx.now = seed_time;
    dns::ResponseInfo info;
    const std::size_t n = dns::respond(query, zones, ctx, out, &info);
    if (n == 0) continue;
    const std::span<const std::uint8_t> reply(out.data(), n);
    if (query.size() < 12 || (query[2] & 0x80) != 0) std::abort();  // responses are never answered
    if (transport == dns::Transport::udp && n > dns::max_udp_payload) std::abort();
    ldns_pkt* pkt = nullptr;
    if (ldns_wire2pkt(&pkt, reply.data(), n) != LDNS_STATUS_OK) std::abort();
    ldns_pkt_free(pkt);
    std::optional<dns::tsig::Record> rrec;
    const bool signed_reply = has_tsig(reply, rrec);
    const std::uint16_t rc = info.rcode;
    if (signed_query && !signed_reply && rc != dns::rcode::formerr && !(rc == dns::rcode::notauth && info.truncated)) std::abort();
    if (signer != nullptr && signed_query && signed_reply && rrec->mac_length != 0) {
      // Signed just now with a key the block knows: the reply verifies, or says BADTIME/BADKEY
      // (a key out of its zone) in a record that itself verifies or carries no MAC.
      const auto c = dns::tsig::verify_response(reply, *rrec, *signer, dns::tsig::mac_of(query, *qrec), seed_time);
      if (c != dns::tsig::Check::ok && c != dns::tsig::Check::badtime) std::abort();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const dns::ZoneSet set = zones();
  const std::span<const std::uint8_t> query(data, size);
  check(query, set, nullptr);
  // The reader and the checks on their own, with the first key that names the record.
  std::optional<dns::tsig::Record> rec;
  if (has_tsig(query, rec)) {
    for (const auto* k : {&k256(), &k512()}) {
      (void)dns::tsig::verify_request(query, *rec, k, seed_time, 300);
      (void)dns::tsig::verify_response(query, *rec, *k, dns::tsig::mac_of(query, *rec), seed_time);
    }
  }
  // The same bytes as the body of a query signed with each key now.
  if (size >= 12 && size < 4096 && !rec) {
    static std::vector<std::uint8_t> buf(8192);
    for (const auto* k : {&k256(), &k512()}) {
      std::copy(data, data + size, buf.begin());
      buf[2] &= 0x7f;
      dns::tsig::SignParams p;
      p.time_signed = seed_time;
      p.original_id = static_cast<std::uint16_t>((data[0] << 8) | data[1]);
      const std::size_t n = dns::tsig::sign(buf, size, *k, p);
      if (n == 0) std::abort();
      check(std::span<const std::uint8_t>(buf.data(), n), set, k);
    }
  }
  return 0;
}
