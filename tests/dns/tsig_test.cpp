// TSIG over bytes, checked against another implementation: what ldns signs verifies here, and what
// is signed here ldns verifies, for requests and for responses with the request MAC chained in.
#include <catch2/catch.hpp>

#include <cstdint>
#include <ctime>
#include <tuple>
#include <memory>
#include <string>
#include <vector>

#include "dns/tsig.hpp"
#include "dns/tsig_case.hpp"
#include "dns/wire.hpp"

#include <ldns/ldns.h>  // after the standard headers: it defines bool macros

using namespace wgsd::dns;
using namespace wgsd::test;

namespace {

constexpr const char* secret256 = "c2VjcmV0LWZvci13Z3NkLXRzaWctdGVzdHMtMzItYnl0ZXM=";
constexpr const char* secret512 =
    "bG9uZ2VyLXNlY3JldC1mb3ItaG1hYy1zaGE1MTItaW4td2dzZC10c2lnLXRlc3RzLTY0LWJ5dGVzLW9mLWtleQ==";

Pkt query_pkt(std::uint16_t id) {
  ldns_rdf* name = ldns_dname_new_frm_str("AbC._wireguard._udp.example.com.");
  Pkt p(ldns_pkt_query_new(name, LDNS_RR_TYPE_SRV, LDNS_RR_CLASS_IN, LDNS_RD));
  ldns_pkt_set_id(p.get(), id);
  return p;
}

// Signs `unsigned_msg` here as a request, with the MAC cut to `mac_len` bytes (RDLENGTH fixed).
Bytes signed_here(Bytes msg, const tsig::Key& k, std::uint64_t at, std::size_t mac_len = SIZE_MAX) {
  const std::size_t length = msg.size();
  msg.resize(length + 600);
  tsig::SignParams p;
  p.time_signed = at;
  p.original_id = get_u16(msg.data());
  msg.resize(tsig::sign(msg, length, k, p));
  REQUIRE(msg.size() > length);
  if (mac_len == SIZE_MAX) return msg;
  tsig::Record rec = record_of(msg);
  Bytes cut(msg.begin(), msg.begin() + static_cast<std::ptrdiff_t>(rec.mac_offset - 2));
  cut.push_back(static_cast<std::uint8_t>(mac_len >> 8));
  cut.push_back(static_cast<std::uint8_t>(mac_len & 0xff));
  for (std::size_t i = 0; i < mac_len; ++i) cut.push_back(i < rec.mac_length ? msg[rec.mac_offset + i] : 0);
  cut.insert(cut.end(), msg.begin() + static_cast<std::ptrdiff_t>(rec.mac_offset + rec.mac_length), msg.end());
  const std::size_t rdlen_at = rec.start + rec.key_name_length + 8;
  const std::size_t rdlen = cut.size() - (rdlen_at + 2);
  cut[rdlen_at] = static_cast<std::uint8_t>(rdlen >> 8);
  cut[rdlen_at + 1] = static_cast<std::uint8_t>(rdlen & 0xff);
  return cut;
}

}  // namespace

TEST_CASE("tsig: a request ldns signs verifies, and a changed byte, key or clock does not", "[dns][tsig]") {
  const auto [alg, b64] = GENERATE(std::pair{"hmac-sha256", secret256}, std::pair{"hmac-sha512", secret512});
  CAPTURE(alg);
  const tsig::Key k = valid_key("Key.Example.", alg, b64);
  Pkt p = query_pkt(0x1234);
  REQUIRE(ldns_pkt_tsig_sign(p.get(), "key.example.", b64, 300, (std::string(alg) + ".").c_str(), nullptr) == LDNS_STATUS_OK);
  Bytes msg = to_wire(p.get());
  const tsig::Record rec = record_of(msg);
  CHECK(rec.mac_length == tsig::mac_size(k.algorithm));
  CHECK(tsig::verify_request(msg, rec, &k, now()) == tsig::Check::ok);

  CHECK(tsig::verify_request(msg, rec, nullptr, now()) == tsig::Check::badkey);
  const tsig::Key other_alg = valid_key("key.example.", alg == std::string("hmac-sha256") ? "hmac-sha512" : "hmac-sha256", b64);
  CHECK(tsig::verify_request(msg, rec, &other_alg, now()) == tsig::Check::badkey);
  const tsig::Key other_secret = valid_key("key.example.", alg, "d3Jvbmctc2VjcmV0");
  CHECK(tsig::verify_request(msg, rec, &other_secret, now()) == tsig::Check::badsig);
  CHECK(tsig::verify_request(msg, rec, &k, rec.time_signed + 301) == tsig::Check::badtime);
  CHECK(tsig::verify_request(msg, rec, &k, rec.time_signed - 301) == tsig::Check::badtime);
  CHECK(tsig::verify_request(msg, rec, &k, rec.time_signed + 300) == tsig::Check::ok);

  msg[header_size + 1] ^= 0x20;  // the case of the question name is signed
  CHECK(tsig::verify_request(msg, rec, &k, now()) == tsig::Check::badsig);
}

TEST_CASE("tsig: a request signed here verifies in ldns", "[dns][tsig]") {
  const auto [alg, b64] = GENERATE(std::pair{"hmac-sha256", secret256}, std::pair{"hmac-sha512", secret512});
  CAPTURE(alg);
  const tsig::Key k = valid_key("key.example", alg, b64);
  const Bytes msg = signed_here(to_wire(query_pkt(0xbeef).get()), k, now());
  Pkt p = from_wire(msg);
  CHECK(ldns_pkt_tsig_verify(p.get(), msg.data(), msg.size(), "key.example.", b64, nullptr));
  CHECK_FALSE(ldns_pkt_tsig_verify(p.get(), msg.data(), msg.size(), "key.example.", "d3Jvbmctc2VjcmV0", nullptr));
  CHECK(tsig::verify_request(msg, record_of(msg), &k, now()) == tsig::Check::ok);
}

TEST_CASE("tsig: responses chain the request MAC, both ways with ldns", "[dns][tsig]") {
  const auto [alg, b64] = GENERATE(std::pair{"hmac-sha256", secret256}, std::pair{"hmac-sha512", secret512});
  CAPTURE(alg);
  const tsig::Key k = valid_key("key.example.", alg, b64);
  const std::string alg_dot = std::string(alg) + ".";

  // ldns signs the request, this side signs the response, ldns verifies it against the request MAC.
  Pkt q = query_pkt(0x4242);
  REQUIRE(ldns_pkt_tsig_sign(q.get(), "key.example.", b64, 300, alg_dot.c_str(), nullptr) == LDNS_STATUS_OK);
  const Bytes qwire = to_wire(q.get());
  const tsig::Record qrec = record_of(qwire);
  REQUIRE(tsig::verify_request(qwire, qrec, &k, now()) == tsig::Check::ok);

  Bytes resp(qwire.begin(), qwire.begin() + static_cast<std::ptrdiff_t>(qrec.start));
  resp[2] |= 0x80;  // QR
  resp[11] = 0;     // ARCOUNT without the request's TSIG
  const std::size_t length = resp.size();
  resp.resize(length + 600);
  tsig::SignParams sp;
  sp.request_mac = tsig::mac_of(qwire, qrec);
  sp.time_signed = now();
  sp.original_id = qrec.original_id;
  resp.resize(tsig::sign(resp, length, k, sp));
  REQUIRE(resp.size() > length);
  Pkt r = from_wire(resp);
  const ldns_rdf* qmac = ldns_rr_rdf(ldns_pkt_tsig(q.get()), 3);
  CHECK(ldns_pkt_tsig_verify(r.get(), resp.data(), resp.size(), "key.example.", b64, qmac));
  CHECK(tsig::verify_response(resp, record_of(resp), k, tsig::mac_of(qwire, qrec), now()) == tsig::Check::ok);
  // Without the request MAC, or with another one, it does not verify.
  CHECK(tsig::verify_response(resp, record_of(resp), k, {}, now()) == tsig::Check::badsig);

  // ldns signs a response to it, this side verifies it.
  Bytes bare(qwire.begin(), qwire.begin() + static_cast<std::ptrdiff_t>(qrec.start));
  bare[11] = 0;
  Pkt r2 = from_wire(bare);
  ldns_pkt_set_qr(r2.get(), true);
  REQUIRE(ldns_pkt_tsig_sign(r2.get(), "key.example.", b64, 300, alg_dot.c_str(), qmac) == LDNS_STATUS_OK);
  const Bytes r2wire = to_wire(r2.get());
  CHECK(tsig::verify_response(r2wire, record_of(r2wire), k, tsig::mac_of(qwire, qrec), now()) == tsig::Check::ok);
  CHECK(tsig::verify_response(r2wire, record_of(r2wire), k, tsig::mac_of(qwire, qrec), now() + 400) == tsig::Check::badtime);
}

TEST_CASE("tsig: a MAC cut below the larger of 10 bytes and half the hash is FORMERR, as one longer than the hash", "[dns][tsig]") {
  const auto [alg, b64, full, least] =
      GENERATE(std::tuple{"hmac-sha256", secret256, 32, 16}, std::tuple{"hmac-sha512", secret512, 64, 32});
  CAPTURE(alg);
  const tsig::Key k = valid_key("key.example.", alg, b64);
  const Bytes base = to_wire(query_pkt(7).get());
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{9}, std::size_t{10}, static_cast<std::size_t>(least - 1)}) {
    const Bytes msg = signed_here(base, k, now(), n);
    CAPTURE(n);
    CHECK(tsig::verify_request(msg, record_of(msg), &k, now()) == tsig::Check::formerr);
  }
  for (std::size_t n : {static_cast<std::size_t>(least), static_cast<std::size_t>(full)}) {
    const Bytes msg = signed_here(base, k, now(), n);
    CAPTURE(n);
    CHECK(tsig::verify_request(msg, record_of(msg), &k, now()) == tsig::Check::ok);
  }
  const Bytes longer = signed_here(base, k, now(), static_cast<std::size_t>(full + 1));
  CHECK(tsig::verify_request(longer, record_of(longer), &k, now()) == tsig::Check::formerr);
}

TEST_CASE("tsig: BADTIME answers are signed with the server's time in other data, key errors are unsigned", "[dns][tsig]") {
  const tsig::Key k = valid_key("key.example.", "hmac-sha256", secret256);
  const Bytes q = signed_here(to_wire(query_pkt(9).get()), k, 1000);
  const tsig::Record qrec = record_of(q);
  REQUIRE(tsig::verify_request(q, qrec, &k, 5000) == tsig::Check::badtime);

  Bytes resp(q.begin(), q.begin() + static_cast<std::ptrdiff_t>(qrec.start));
  resp[2] |= 0x80;
  resp[3] = (resp[3] & 0xf0) | rcode::notauth;
  resp[11] = 0;
  const std::size_t length = resp.size();
  resp.resize(length + 600);
  std::uint8_t server_time[6] = {0, 0, 0, 0, 0x13, 0x88};  // 5000
  tsig::SignParams sp;
  sp.request_mac = tsig::mac_of(q, qrec);
  sp.time_signed = qrec.time_signed;
  sp.original_id = qrec.original_id;
  sp.error = tsig::badtime;
  sp.other = server_time;
  resp.resize(tsig::sign(resp, length, k, sp));
  const tsig::Record rrec = record_of(resp);
  CHECK(rrec.error == tsig::badtime);
  CHECK(rrec.other_length == 6);
  CHECK(rrec.mac_length == 32);
  CHECK(tsig::verify_response(resp, rrec, k, tsig::mac_of(q, qrec), 1000) == tsig::Check::badtime);

  resp.resize(length + 600);
  resp[11] = 0;
  sp = {};
  sp.unsigned_error = true;
  sp.error = tsig::badsig;
  sp.original_id = qrec.original_id;
  resp.resize(tsig::sign(resp, length, k, sp));
  CHECK(record_of(resp).mac_length == 0);
  CHECK(tsig::verify_response(resp, record_of(resp), k, tsig::mac_of(q, qrec), 1000) == tsig::Check::badsig);
}

TEST_CASE("tsig: keys and algorithm names", "[dns][tsig]") {
  std::string error;
  CHECK_FALSE(tsig::make_key("k.", "hmac-md5", secret256, error));
  CHECK(error.find("hmac-md5") != std::string::npos);
  CHECK_FALSE(tsig::make_key("k.", "hmac-sha256", "not base64!", error));
  CHECK(error.find("not base64!") == std::string::npos);  // no secret material in messages
  CHECK(tsig::algorithm_from_name("HMAC-SHA512.") == tsig::Algorithm::hmac_sha512);
  CHECK_FALSE(tsig::algorithm_from_name("hmac-sha1"));
  const tsig::Key a = valid_key("A.example", "hmac-sha256", secret256);
  std::vector<tsig::Key> keys{a};
  const auto wire = name_to_wire("a.example.");
  REQUIRE(wire);
  CHECK(tsig::find_key(keys, {reinterpret_cast<const std::uint8_t*>(wire->data()), wire->size()}) == &keys[0]);
}
