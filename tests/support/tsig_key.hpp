// The TSIG key the tests share: hmac-sha256 with a fixed 32-byte secret, named as a test asks.
#pragma once

#include <catch2/catch.hpp>

#include <string>

#include "dns/tsig.hpp"

namespace wgsd::test {

inline constexpr const char* test_tsig_secret = "c2VjcmV0LWZvci13Z3NkLXRzaWctdGVzdHMtMzItYnl0ZXM=";

inline dns::tsig::Key test_tsig_key(const std::string& name = "key.example.") {
  std::string error;
  auto k = dns::tsig::make_key(name, "hmac-sha256", test_tsig_secret, error);
  REQUIRE(k);
  return *k;
}

}  // namespace wgsd::test
