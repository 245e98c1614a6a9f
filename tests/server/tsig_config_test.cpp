// The `tsig` directive and BIND key files: keys, algorithms, scope, and errors that name the place
// and the bad value but never the secret.
#include <catch2/catch.hpp>

#include <fstream>

#include "server/config.hpp"
#include "server/tsig_keys.hpp"
#include "support/lab.hpp"

using namespace wgsd;
using namespace wgsd::server;

namespace {
constexpr const char* b64 = "c2VjcmV0LWZvci13Z3NkLXRzaWctdGVzdHMtMzItYnl0ZXM=";
}

TEST_CASE("tsig key files: BIND key blocks as tsig-keygen writes them", "[server][corefile][tsig]") {
  const std::string text = std::string("# a comment\nkey \"Key.Example\" {\n\talgorithm hmac-sha512;\n\tsecret \"") + b64 +
                           "\";\n};\nkey other. { secret \"" + b64 + "\"; };\n";
  const auto keys = parse_key_file(text, "keys.conf");
  REQUIRE(keys.size() == 2);
  CHECK(keys[0].name == std::string("\x03key\x07" "example\x00", 13));
  CHECK(keys[0].algorithm == dns::tsig::Algorithm::hmac_sha512);
  CHECK(keys[0].secret.size() == 35);
  CHECK(keys[1].algorithm == dns::tsig::Algorithm::hmac_sha256);

  auto error_of = [](const std::string& t) {
    try {
      parse_key_file(t, "keys.conf");
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(error_of("key \"k\" {\n algorithm hmac-md5;\n secret \"" + std::string(b64) + "\";\n};\n") ==
        "keys.conf:2: key 'k': unsupported TSIG algorithm 'hmac-md5' (hmac-sha256 or hmac-sha512)");
  CHECK(error_of("key \"k\" {\n algorithm hmac-sha256;\n};\n") == "keys.conf:1: key 'k': no secret");
  CHECK(error_of("key \"k\" {\n secret \"sec ret!\";\n};\n") == "keys.conf:1: key 'k': the secret of TSIG key 'k' is not base64");
  CHECK(error_of("key \"k\" {\n secret \"" + std::string(b64) + "\"\n};\n") ==
        "keys.conf:2: key 'k': expected ';' after the secret (one base64 word)");
  CHECK(error_of("") == "keys.conf: no key blocks");
  // A word after the secret may be part of it (a secret split by a space): never printed.
  for (const std::string& bad : {"key k {\n secret " + std::string(b64) + " LEAKED;\n};\n",
                                 "key k {\n secret \"" + std::string(b64) + "\" \"LEAKED\";\n};\n",
                                 "key k {\n secret " + std::string(b64) + " LEAKED\n};\n"}) {
    const std::string e = error_of(bad);
    CAPTURE(e);
    CHECK(e.rfind("keys.conf:2: key 'k': ", 0) == 0);
    CHECK(e.find("LEAKED") == std::string::npos);
    CHECK(e.find(b64) == std::string::npos);
  }
}

TEST_CASE("tsig directive: secret, secrets, require, fudge and the zones it covers", "[server][corefile][tsig]") {
  test::TempDir dir;
  std::ofstream(dir.path() + "/keys") << "key \"b.example\" { algorithm hmac-sha512; secret \"" << b64 << "\"; };\n";
  const std::string corefile = "example.com.:53 {\n wgsd example.com. wg0 {\n  ns ns.example.\n }\n tsig {\n  secret a.example. " + std::string(b64) +
                               "\n  secrets " + dir.path() + "/keys\n  require AXFR ixfr\n  fudge 5\n }\n}\n";
  const auto config = parse_config(corefile, "Corefile");
  REQUIRE(config.blocks[0].tsig.size() == 1);
  const TsigConfig& t = config.blocks[0].tsig[0];
  REQUIRE(t.keys.size() == 2);
  CHECK(t.keys[1].algorithm == dns::tsig::Algorithm::hmac_sha512);
  CHECK(t.rule.require == std::vector<std::uint16_t>{252, 251});
  CHECK_FALSE(t.rule.require_all);
  CHECK(t.rule.fudge == 5);
  CHECK(t.rule.zones == std::vector<std::string>{*dns::name_to_wire("example.com.")});

  auto error_of = [](const std::string& text) {
    try {
      parse_config(text, "Corefile");
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::string head = ".:53 {\n wgsd example.com. wg0 {\n  ns ns.example.\n }\n tsig {\n";
  CHECK(error_of(head + "  secret k. not-base64!\n }\n}\n") == "Corefile:6: tsig: secret: the secret of TSIG key 'k.' is not base64");
  CHECK(error_of(head + "  require SOON\n }\n}\n") ==
        "Corefile:6: tsig: require: expected all, none or a query type such as AXFR, got 'SOON'");
  CHECK(error_of(head + "  fudge 0\n }\n}\n") == "Corefile:6: tsig: fudge: expected SECONDS from 1 to 65535, got '0'");
  CHECK(error_of(head + "  algorithm md5\n }\n}\n") == "Corefile:6: tsig: unknown option 'algorithm' (secret, secrets, require, fudge)");
  std::ofstream(dir.path() + "/md5") << "key \"k\" {\n algorithm hmac-md5;\n secret \"" << b64 << "\";\n};\n";
  CHECK(error_of(head + "  secrets " + dir.path() + "/md5\n }\n}\n") ==
        "Corefile:6: tsig: secrets: " + dir.path() + "/md5:2: key 'k': unsupported TSIG algorithm 'hmac-md5' (hmac-sha256 or hmac-sha512)");
  CHECK(error_of(head + "  secrets " + dir.path() + "/none\n }\n}\n") ==
        "Corefile:6: tsig: secrets: " + dir.path() + "/none: cannot read the key file");
}

TEST_CASE("tsig key files: Knot's key section, as keymgr -t prints it", "[server][corefile][tsig]") {
  const std::string text = std::string("# hmac-sha512:knot.example:") + b64 + "\nkey:\n  - id: knot.example\n    algorithm: hmac-sha512\n    secret: " +
                           b64 + "\n  - id: two.example\n    algorithm: hmac-sha256\n    secret: \"" + b64 + "\"\n";
  const auto keys = parse_key_file(text, "knot.keys");
  REQUIRE(keys.size() == 2);
  CHECK(keys[0].name == std::string("\x04knot\x07" "example\x00", 14));
  CHECK(keys[0].algorithm == dns::tsig::Algorithm::hmac_sha512);
  CHECK(keys[1].algorithm == dns::tsig::Algorithm::hmac_sha256);
  CHECK(keys[1].secret == keys[0].secret);
  try {
    parse_key_file("key:\n  - id: old\n    algorithm: hmac-md5\n    secret: " + std::string(b64) + "\n", "knot.keys");
    FAIL("hmac-md5 accepted");
  } catch (const ConfigError& e) {
    CHECK(std::string(e.what()) == "knot.keys:3: key 'old': unsupported TSIG algorithm 'hmac-md5' (hmac-sha256 or hmac-sha512)");
  }
  // What keymgr itself prints, when it is installed.
  if (test::sh("command -v keymgr >/dev/null 2>&1") == 0) {
    const auto made = parse_key_file(test::sh_out("keymgr -t made.example hmac-sha512"), "keymgr");
    REQUIRE(made.size() == 1);
    CHECK(made[0].algorithm == dns::tsig::Algorithm::hmac_sha512);
    CHECK(made[0].secret.size() == 64);
  }
}
