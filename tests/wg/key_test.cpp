#include <catch2/catch.hpp>
#include <sodium.h>

#include "support/keys.hpp"
#include "support/lab.hpp"
#include "wg/key.hpp"

using namespace wgsd;

TEST_CASE("base32 matches the RFC 4648 section 10 test vectors", "[wg][key]") {
  struct Case { std::string in, out; };
  const std::vector<Case> cases = {
      {"", ""},           {"f", "MY======"},       {"fo", "MZXQ===="},
      {"foo", "MZXW6==="}, {"foob", "MZXW6YQ="},   {"fooba", "MZXW6YTB"},
      {"foobar", "MZXW6YTBOI======"},
  };
  for (const auto& c : cases) {
    DYNAMIC_SECTION("'" << c.in << "'") {
      const auto* p = reinterpret_cast<const std::uint8_t*>(c.in.data());
      CHECK(wg::base32_encode({p, c.in.size()}) == c.out);
      auto back = wg::base32_decode(c.out);
      REQUIRE(back);
      CHECK(*back == c.in);
      auto lower = wg::base32_decode(wg::base32_encode({p, c.in.size()}, true));
      REQUIRE(lower);
      CHECK(*lower == c.in);
    }
  }
}

TEST_CASE("base32 decoding rejects bad text", "[wg][key]") {
  for (const char* bad : {"MY=====", "M1======", "MZ======", "MZXW6YT=", "========", "MZXW6YTBOI=====A", "mz!w6==="}) {
    INFO(bad);
    CHECK_FALSE(wg::base32_decode(bad));
  }
}

TEST_CASE("a key's base32 is 56 characters and matches the reference names", "[wg][key]") {
  const auto key = test::key_from_b64("En9Uj9hQdUDPzXA8+29PYXZDUY7uoWByieEUhcB313Q=");
  CHECK(key.to_base32() == "cj7vjd6ykb2ubt6noa6pw32pmf3egumo52qwa4uj4ekilqdx252a====");
  CHECK(key.to_base32(false) == "CJ7VJD6YKB2UBT6NOA6PW32PMF3EGUMO52QWA4UJ4EKILQDX252A====");
  CHECK(key.to_base64() == "En9Uj9hQdUDPzXA8+29PYXZDUY7uoWByieEUhcB313Q=");
}

TEST_CASE("base32 of keys agrees with coreutils base32", "[wg][key]") {
  if (test::sh("command -v base32 >/dev/null") != 0) test::skip("coreutils base32 not found");
  for (unsigned n = 0; n < 20; ++n) {
    std::array<std::uint8_t, 32> bytes{};
    randombytes_buf(bytes.data(), bytes.size());
    const wg::Key key(bytes);
    const auto out = test::sh_out("echo " + key.to_base64() + " | base64 -d | base32 -w0");
    CHECK(out == key.to_base32(false));
  }
}

TEST_CASE("base64 keys must decode to exactly 32 bytes", "[wg][key]") {
  CHECK(wg::Key::from_base64("En9Uj9hQdUDPzXA8+29PYXZDUY7uoWByieEUhcB313Q="));
  for (const char* bad : {"", "En9Uj9hQdUDPzXA8+29PYXZDUY7uoWByieEUhcB313Q", "En9Uj9hQdUDPzXA8+29PYXZDUY7uoWByieEUhcB313Q==",
                          "En9Uj9hQdUDPzXA8+29PYXZDUY7uoWByieEUhcB313=", "En9Uj9hQdUDPzXA8+29PYXZDUY7uoWByieEUhcB31?Q=",
                          "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "En9Uj9hQdUDPzXA8-29PYXZDUY7uoWByieEUhcB313Q="}) {
    INFO(bad);
    CHECK_FALSE(wg::Key::from_base64(bad));
  }
}

TEST_CASE("a secret key derives the public key wg(8) derives", "[wg][key]") {
  // wg genkey / wg pubkey pair.
  wg::SecretKey secret;
  REQUIRE(secret.assign_hex("a8a0c1a0a4c4d3f9a5c7f1b3e6d2a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7"));
  std::array<std::uint8_t, 32> expected{};
  const std::array<std::uint8_t, 32> sk = {0xa8, 0xa0, 0xc1, 0xa0, 0xa4, 0xc4, 0xd3, 0xf9, 0xa5, 0xc7, 0xf1, 0xb3, 0xe6, 0xd2, 0xa0, 0xb1,
                                           0xc2, 0xd3, 0xe4, 0xf5, 0xa6, 0xb7, 0xc8, 0xd9, 0xe0, 0xf1, 0xa2, 0xb3, 0xc4, 0xd5, 0xe6, 0xf7};
  crypto_scalarmult_base(expected.data(), sk.data());
  CHECK(secret.public_key() == wg::Key(expected));
  CHECK_FALSE(secret.assign_hex("zz"));
  CHECK(secret.is_zero());
}

TEST_CASE("public keys from UAPI hex: both cases, exactly 64 digits", "[wg][key]") {
  const std::string hex = "b85996fecc9c7f1fc6d2572a76eda11d59bcb20be8e543b15ce4bd85a8e75a33";
  const auto k = wg::Key::from_hex(hex);
  REQUIRE(k);
  CHECK(wg::hex_encode(k->bytes()) == hex);
  std::string upper = hex;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  CHECK(wg::Key::from_hex(upper) == k);
  CHECK_FALSE(wg::Key::from_hex(hex.substr(1)));
  CHECK_FALSE(wg::Key::from_hex(hex + "0"));
  for (const char bad : {'g', 'G', ' ', '\0', '\xff', '/', ':', '@', '`'}) {
    for (const std::size_t at : {std::size_t{0}, std::size_t{1}, std::size_t{63}}) {
      std::string s = hex;
      s[at] = bad;
      INFO(at << " " << static_cast<int>(bad));
      CHECK_FALSE(wg::Key::from_hex(s));
    }
  }
}
