// wgsd-client with a TSIG key: every query signed, every answer verified, and each way an answer
// can fail said in words. First against the responder's bytes, then as a program against
// wgsd-server and against Knot DNS serving the same names with the same key.
#include <catch2/catch.hpp>
#include <signal.h>

#include <ctime>
#include <fstream>
#include <memory>
#include <thread>

#include "client/resolver.hpp"
#include "dns/fixtures.hpp"
#include "dns/names.hpp"
#include "dns/responder.hpp"
#include "dns/tsig.hpp"
#include "support/keys.hpp"
#include "support/lab.hpp"

using namespace wgsd;
using namespace wgsd::test;
using namespace std::chrono_literals;

namespace {

constexpr const char* secret = "c2VjcmV0LWZvci13Z3NkLXRzaWctdGVzdHMtMzItYnl0ZXM=";
constexpr const char* other_secret = "d3Jvbmctc2VjcmV0LWZvci10aGUtc2FtZS1rZXktbmFtZQ==";

dns::tsig::Key key(const char* name, const char* b64 = secret, const char* alg = "hmac-sha256") {
  std::string error;
  auto k = dns::tsig::make_key(name, alg, b64, error);
  REQUIRE(k);
  return *k;
}

std::uint64_t now() { return static_cast<std::uint64_t>(std::time(nullptr)); }

// The registry's answer to `query`, from a zone set that knows `server_key`, at `server_time`.
std::vector<std::uint8_t> registry_answer(const std::vector<std::uint8_t>& query, const dns::tsig::Key& server_key, std::uint64_t server_time) {
  dns::ZoneSet zones = reference_zones();
  auto policy = std::make_shared<dns::tsig::Policy>();
  policy->rules.push_back({});
  policy->rules[0].keys.push_back(server_key);
  zones.tsig = policy;
  dns::QueryContext ctx;
  ctx.now = server_time;
  return dns::respond(query, zones, ctx);
}

}  // namespace

TEST_CASE("client TSIG: answers verify, and each failure says which", "[client][tsig]") {
  const dns::tsig::Key k = key("key.example.");
  std::uint16_t id = 0;
  std::vector<std::uint8_t> q = client::build_query(name1, 33, id);
  const auto mac = client::sign_query(q, k, now());

  const auto good = registry_answer(q, k, now());
  CHECK(client::check_reply_tsig(good, k, mac, now()) == "");
  // The same answer read 1000 s later: stale.
  CHECK_THAT(client::check_reply_tsig(good, k, mac, now() + 1000), Catch::Contains("s old") && Catch::Contains("BADTIME"));
  // One byte changed in transit.
  auto changed = good;
  changed[changed.size() / 2] ^= 1;
  CHECK_THAT(client::check_reply_tsig(changed, k, mac, now()), Catch::Contains("does not verify") && Catch::Contains("BADSIG"));
  // The TSIG cut off: unsigned.
  std::size_t owner = 0;
  REQUIRE(dns::tsig::locate(good, owner) == dns::tsig::Found::last);
  std::vector<std::uint8_t> bare(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(owner));
  bare[11] = static_cast<std::uint8_t>(bare[11] - 1);
  CHECK(client::check_reply_tsig(bare, k, mac, now()) == "the answer is not signed (TSIG): refused");
  // A TSIG record with no MAC and no error: an unsigned NOERROR answer, not a MAC cut short.
  {
    const auto rec = dns::tsig::read_record(good, owner);
    REQUIRE(rec);
    std::vector<std::uint8_t> empty(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(rec->mac_offset - 2));
    empty.push_back(0);
    empty.push_back(0);
    empty.insert(empty.end(), good.begin() + static_cast<std::ptrdiff_t>(rec->mac_offset + rec->mac_length), good.end());
    const std::size_t rdlen_at = owner + rec->key_name_length + 8;
    const std::size_t rdlen = empty.size() - rdlen_at - 2;
    empty[rdlen_at] = static_cast<std::uint8_t>(rdlen >> 8);
    empty[rdlen_at + 1] = static_cast<std::uint8_t>(rdlen & 0xff);
    CHECK(client::check_reply_tsig(empty, k, mac, now()) == "the answer is not signed (TSIG): refused");
  }

  CHECK_THAT(client::check_reply_tsig(registry_answer(q, key("key.example.", other_secret), now()), k, mac, now()),
             Catch::Contains("could not verify our TSIG signature") && Catch::Contains("BADSIG"));
  CHECK_THAT(client::check_reply_tsig(registry_answer(q, key("other.example."), now()), k, mac, now()),
             Catch::Contains("does not know TSIG key key.example. with algorithm hmac-sha256 (BADKEY)"));
  CHECK_THAT(client::check_reply_tsig(registry_answer(q, key("key.example.", secret, "hmac-sha512"), now()), k, mac, now()),
             Catch::Contains("BADKEY"));
  CHECK(client::check_reply_tsig(registry_answer(q, k, now() + 1000), k, mac, now()) ==
        "the registry refused the query's time (BADTIME): its clock is 1000 s ahead of ours");
}

namespace {

// A registry device served by wgsd-server with a `tsig` key on 127.0.0.1:5353, and a client
// device holding the same peers without endpoints.
struct SignedPair {
  Netns ns;
  WireguardGo registry{ns, "wgr"};
  WireguardGo client{ns, "wgc"};
  TempDir dir;
  Process server;

  SignedPair() {
    std::ofstream r(dir.path() + "/r.conf");
    std::ofstream c(dir.path() + "/c.conf");
    r << "[Interface]\nPrivateKey = " << genkey() << "\n[Peer]\nPublicKey = " << key_n(1).to_base64() << "\nEndpoint = 198.51.100.1:10001\n";
    c << "[Interface]\nPrivateKey = " << genkey() << "\n[Peer]\nPublicKey = " << key_n(1).to_base64() << "\n";
    r.close();
    c.close();
    REQUIRE(ns.exec("wg setconf " + registry.ifname() + " " + dir.path() + "/r.conf") == 0);
    REQUIRE(ns.exec("wg setconf " + client.ifname() + " " + dir.path() + "/c.conf") == 0);
    std::ofstream(dir.path() + "/Corefile") << ".:5353 {\n bind 127.0.0.1\n wgsd example.com. " << registry.ifname()
                                            << " {\n  ns ns1.example.com. 127.0.0.1\n }\n tsig {\n  secret key.example. " << secret
                                            << "\n  require all\n }\n}\n";
    server = Process(ns.wrap({WGSD_SERVER_BIN, "--conf", dir.path() + "/Corefile"}), dir.path() + "/server.log");
    for (int i = 0; i < 100 && ns.exec(std::string("dig -y hmac-sha256:key.example.:") + secret +
                                       " +short +time=1 +tries=1 @127.0.0.1 -p 5353 example.com. SOA 2>/dev/null | grep -q '^[^;]'") != 0;
         ++i) {
      std::this_thread::sleep_for(50ms);
    }
  }
  std::string endpoint_of(unsigned n) {
    const auto out = ns.exec_out("wg show " + client.ifname() + " endpoints");
    const auto k = key_n(n).to_base64();
    const auto p = out.find(k);
    if (p == std::string::npos) return "";
    const auto start = p + k.size() + 1;
    return out.substr(start, out.find('\n', start) - start);
  }
  int run_client(const std::string& args, std::string& output) {
    const std::string log = dir.path() + "/client.out";
    const int rc = ns.exec(std::string(WGSD_CLIENT_BIN) + " --device " + client.ifname() + " --zone example.com. --timeout 500ms --retries 0 " +
                           args + " >" + log + " 2>&1");
    output = sh_out("cat " + log);
    return rc;
  }
};

}  // namespace

TEST_CASE("wgsd-client -y and -k against wgsd-server: signed lookups work, wrong keys fail and write nothing", "[client][live][tsig]") {
  require_live({"wireguard-go", "wg", "ip", "dig"});
  SignedPair p;
  std::string out;
  const std::string dns = "--dns 127.0.0.1:5353 ";
  CHECK(p.run_client(dns + "--dry-run", out) == 2);  // unsigned: refused by `require all`
  CHECK_THAT(out, Catch::Contains("REFUSED"));
  CHECK(p.run_client(dns + "-y hmac-sha256:key.example.:d3Jvbmctc2VjcmV0", out) == 2);
  CHECK_THAT(out, Catch::Contains("could not verify our TSIG signature with key key.example. (BADSIG)"));
  CHECK(p.run_client(dns + "-y hmac-sha512:key.example.:" + secret, out) == 2);
  CHECK_THAT(out, Catch::Contains("(BADKEY)"));
  CHECK(p.endpoint_of(1) == "(none)");
  CHECK(p.run_client(dns + "-y hmac-md5:key.example.:" + secret, out) == 1);
  CHECK_THAT(out, Catch::Contains("unsupported TSIG algorithm 'hmac-md5'") && !Catch::Contains(secret));

  std::ofstream(p.dir.path() + "/key.conf") << "key \"key.example\" {\n\talgorithm hmac-sha256;\n\tsecret \"" << secret << "\";\n};\n";
  CHECK(p.run_client(dns + "-k " + p.dir.path() + "/key.conf", out) == 0);
  CHECK(p.endpoint_of(1) == "198.51.100.1:10001");
  REQUIRE(p.ns.exec("wg set " + p.client.ifname() + " peer " + key_n(1).to_base64() + " endpoint 192.0.2.9:9") == 0);
  CHECK(p.run_client(dns + "-y key.example.:" + secret, out) == 0);  // hmac-sha256 by default
  CHECK(p.endpoint_of(1) == "198.51.100.1:10001");
}

TEST_CASE("wgsd-client -k against Knot DNS serving the same names with the same key", "[client][live][tsig]") {
  require_live({"wireguard-go", "wg", "ip", "knotd", "kdig"});
  Netns ns;
  WireguardGo dev{ns, "wgk"};
  TempDir dir;
  const std::string peer = dns::instance_name(key_n(1), "example.com.", true);
  std::string escaped;  // a zone file takes '=' only escaped
  for (const char c : peer) escaped += c == '=' ? std::string("\\=") : std::string(1, c);
  std::ofstream(dir.path() + "/c.conf") << "[Interface]\nPrivateKey = " << genkey() << "\n[Peer]\nPublicKey = " << key_n(1).to_base64() << "\n";
  REQUIRE(ns.exec("wg setconf " + dev.ifname() + " " + dir.path() + "/c.conf") == 0);
  std::ofstream(dir.path() + "/example.com.zone")
      << "$ORIGIN example.com.\n$TTL 0\n@ SOA ns1 hostmaster 1 3600 600 86400 5\n@ NS ns1\nns1 A 127.0.0.1\n"
      << "_wireguard._udp PTR " << escaped << "\n"
      << escaped << " SRV 0 0 10001 " << escaped << "\n"
      << escaped << " A 198.51.100.77\n"
      << escaped << " TXT \"txtvers=1\" \"pub=" << key_n(1).to_base64() << "\" \"allowed=10.0.0.1/32\"\n";
  std::ofstream(dir.path() + "/knot.conf") << "server:\n  rundir: " << dir.path() << "\n  listen: 127.0.0.1@5354\n"
                                            << "key:\n  - id: key.example.\n    algorithm: hmac-sha256\n    secret: " << secret << "\n"
                                            << "acl:\n  - id: signed\n    key: key.example.\n    action: transfer\n"  // a key Knot accepts is one an acl names
                                            << "template:\n  - id: default\n    storage: " << dir.path() << "\n"
                                            << "database:\n  storage: " << dir.path() << "/db\n"
                                            << "zone:\n  - domain: example.com.\n    file: example.com.zone\n    acl: signed\n";
  Process knot(ns.wrap({"knotd", "-c", dir.path() + "/knot.conf"}), dir.path() + "/knot.log");
  const std::string kdig = std::string("kdig +time=1 +retry=0 -y hmac-sha256:key.example.:") + secret + " @127.0.0.1 -p 5354 " + peer + " SRV";
  REQUIRE(eventually([&] { return ns.exec(kdig + " 2>/dev/null | grep -q 'status: NOERROR'") == 0; }, 5000ms));

  std::ofstream(dir.path() + "/key.conf") << "key \"key.example.\" {\n\talgorithm hmac-sha256;\n\tsecret \"" << secret << "\";\n};\n";
  const std::string base = std::string(WGSD_CLIENT_BIN) + " --device " + dev.ifname() + " --zone example.com. --dns 127.0.0.1:5354 --timeout 500ms --retries 0 ";
  CHECK(ns.exec(base + "-y key.example.:d3Jvbmctc2VjcmV0 >" + dir.path() + "/out 2>&1") == 2);
  CHECK_THAT(sh_out("cat " + dir.path() + "/out"), Catch::Contains("BADSIG"));
  CHECK(ns.exec(base + "-k " + dir.path() + "/key.conf >" + dir.path() + "/out 2>&1") == 0);
  CHECK_THAT(sh_out("cat " + dir.path() + "/out"), Catch::Contains("endpoint set to 198.51.100.77:10001"));
  CHECK(knot.stop(SIGTERM) == 0);
}
