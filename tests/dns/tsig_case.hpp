// What the TSIG tests share: keys made or the test fails, ldns packets to and from the wire (so
// that what wgsd signs can be checked by ldns and the other way round), and the record that ends a
// signed message.
#pragma once

#include <catch2/catch.hpp>

#include <cstdint>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "dns/tsig.hpp"

#include <ldns/ldns.h>  // after the standard headers: it defines bool macros

namespace wgsd::test {

using Bytes = std::vector<std::uint8_t>;

struct PktFree {
  void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
using Pkt = std::unique_ptr<ldns_pkt, PktFree>;

/// The key, which must be valid.
inline dns::tsig::Key valid_key(const char* name, const char* alg, const char* b64) {
  std::string error;
  auto k = dns::tsig::make_key(name, alg, b64, error);
  REQUIRE(k);
  return *k;
}

inline Bytes to_wire(ldns_pkt* p) {
  std::uint8_t* w = nullptr;
  std::size_t n = 0;
  REQUIRE(ldns_pkt2wire(&w, p, &n) == LDNS_STATUS_OK);
  Bytes out(w, w + n);
  LDNS_FREE(w);
  return out;
}

inline Pkt from_wire(const Bytes& b) {
  ldns_pkt* p = nullptr;
  REQUIRE(ldns_wire2pkt(&p, b.data(), b.size()) == LDNS_STATUS_OK);
  return Pkt(p);
}

/// The TSIG record that ends `msg`, which must have one last.
inline dns::tsig::Record record_of(const Bytes& msg) {
  std::size_t owner = 0;
  REQUIRE(dns::tsig::locate(msg, owner) == dns::tsig::Found::last);
  auto rec = dns::tsig::read_record(msg, owner);
  REQUIRE(rec);
  return *rec;
}

/// The time now, as TSIG counts it (seconds since the epoch).
inline std::uint64_t now() { return static_cast<std::uint64_t>(std::time(nullptr)); }

}  // namespace wgsd::test
