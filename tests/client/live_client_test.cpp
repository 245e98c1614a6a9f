// wgsd-client as a program: against wgsd-server and real wireguard-go devices in a namespace.
#include <catch2/catch.hpp>

#include <signal.h>

#include <fstream>
#include <iostream>
#include <thread>

#include "support/keys.hpp"
#include "support/lab.hpp"

using namespace wgsd;
using namespace wgsd::test;
using namespace std::chrono_literals;

namespace {

// A registry device R served by wgsd-server on 127.0.0.1:5353, and a client device C, both holding
// the same peers; C's peers start without endpoints.
struct Pair {
  Netns ns;
  WireguardGo registry{ns, "wgr"};
  WireguardGo client{ns, "wgc"};
  TempDir dir;
  Process server;

  explicit Pair(unsigned peers) {
    std::ofstream r(dir.path() + "/r.conf");
    std::ofstream c(dir.path() + "/c.conf");
    r << "[Interface]\nPrivateKey = " << genkey() << "\n";
    c << "[Interface]\nPrivateKey = " << genkey() << "\n";
    for (unsigned i = 1; i <= peers; ++i) {
      r << "[Peer]\nPublicKey = " << key_n(i).to_base64() << "\nEndpoint = 198.51.100." << (i % 200 + 1) << ":" << (10000 + i) << "\n";
      c << "[Peer]\nPublicKey = " << key_n(i).to_base64() << "\n";
    }
    r.close();
    c.close();
    REQUIRE(ns.exec("wg setconf " + registry.ifname() + " " + dir.path() + "/r.conf") == 0);
    REQUIRE(ns.exec("wg setconf " + client.ifname() + " " + dir.path() + "/c.conf") == 0);
    std::ofstream(dir.path() + "/Corefile") << ".:5353 {\n bind 127.0.0.1\n wgsd example.com. " << registry.ifname() << " {\n  refresh 100ms\n  ns ns1.example.com. 127.0.0.1\n }\n}\n";
    server = Process(ns.wrap({WGSD_SERVER_BIN, "--conf", dir.path() + "/Corefile"}), dir.path() + "/server.log");
    for (int i = 0; i < 100 && ns.exec("dig +short +time=1 +tries=1 @127.0.0.1 -p 5353 example.com. SOA >/dev/null 2>&1") != 0; ++i) {
      std::this_thread::sleep_for(50ms);
    }
  }
  std::string endpoint_of(unsigned n) {
    const auto out = ns.exec_out("wg show " + client.ifname() + " endpoints");
    const auto key = key_n(n).to_base64();
    const auto p = out.find(key);
    if (p == std::string::npos) return "";
    const auto start = p + key.size() + 1;
    return out.substr(start, out.find('\n', start) - start);
  }
  std::vector<std::string> client_argv(std::vector<std::string> extra) {
    std::vector<std::string> argv{WGSD_CLIENT_BIN, "--device", client.ifname(), "--dns", "127.0.0.1:5353", "--zone", "example.com."};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return ns.wrap(argv);
  }
  int run_client(const std::string& args, std::string* output = nullptr) {
    const std::string log = dir.path() + "/client.out";
    const int rc = ns.exec(std::string(WGSD_CLIENT_BIN) + " " + args + " >" + log + " 2>&1");
    if (output != nullptr) *output = sh_out("cat " + log);
    return rc;
  }
};

}  // namespace

TEST_CASE("wgsd-client sets endpoints from wgsd-server, in both syntaxes", "[client][live]") {
  require_live({"wireguard-go", "wg", "ip", "dig"});
  Pair p(3);
  std::string out;
  SECTION("long options, JSON report") {
    CHECK(p.run_client("--device " + p.client.ifname() + " --dns 127.0.0.1:5353 --zone example.com. --json", &out) == 0);
    CHECK(p.endpoint_of(1) == "198.51.100.2:10001");
    CHECK(p.endpoint_of(3) == "198.51.100.4:10003");
    CHECK(out.find("\"outcome\":\"updated\"") != std::string::npos);
    CHECK(out.find("wgsd-client: " + key_n(2).to_base64() + ": endpoint set to 198.51.100.3:10002 (was none)") != std::string::npos);
    CHECK(p.run_client("--device " + p.client.ifname() + " --dns 127.0.0.1:5353 --zone example.com.", &out) == 0);
    CHECK(out.find("endpoint 198.51.100.3:10002 unchanged") != std::string::npos);
  }
  SECTION("jwhited/wgsd syntax") {
    CHECK(p.run_client("-device=" + p.client.ifname() + " -dns=127.0.0.1:5353 -zone=example.com.", &out) == 0);
    CHECK(p.endpoint_of(2) == "198.51.100.3:10002");
  }
  SECTION("dry run changes nothing") {
    CHECK(p.run_client("--device " + p.client.ifname() + " --dns 127.0.0.1:5353 --zone example.com. --dry-run", &out) == 0);
    CHECK(out.find("would set endpoint 198.51.100.2:10001 (was none)") != std::string::npos);
    CHECK(p.endpoint_of(1) == "(none)");
  }
  SECTION("exit codes") {
    CHECK(p.run_client("--device " + p.client.ifname() + " --dns nowhere --zone example.com.", &out) == 1);
    CHECK(out.find("--dns: expected IP:PORT, [IPv6]:PORT or IP, got 'nowhere'") != std::string::npos);
    CHECK(p.run_client("--device " + p.client.ifname() + " --dns 127.0.0.1:5353 --zone example.com. -y hmac-md5:k:c2VjcmV0", &out) == 1);
    CHECK(out.find("unsupported TSIG algorithm 'hmac-md5'") != std::string::npos);
    CHECK(p.run_client("--device wgmissing0 --dns 127.0.0.1:5353 --zone example.com.", &out) == 3);
    CHECK(out.find("wgsd-client: device 'wgmissing0': no such device 'wgmissing0'") != std::string::npos);
    CHECK(p.run_client("--device " + p.client.ifname() + " --dns 127.0.0.1:5999 --zone example.com. --timeout 200ms --retries 1", &out) == 2);
    CHECK(out.find("lookup failed") != std::string::npos);
    CHECK(p.run_client("--device " + p.client.ifname() + " --dns 127.0.0.1:5353 --zone other.org.", &out) == 2);
    CHECK(out.find("registry answered REFUSED") != std::string::npos);
    REQUIRE(p.ns.exec("wg set " + p.client.ifname() + " peer " + key_n(999).to_base64()) == 0);
    CHECK(p.run_client("--device " + p.client.ifname() + " --dns 127.0.0.1:5353 --zone example.com.", &out) == 0);
    CHECK(out.find(key_n(999).to_base64() + ": not known to the registry") != std::string::npos);
  }
}

TEST_CASE("wgsd-client --interval follows the registry and stops on SIGTERM", "[client][live]") {
  require_live({"wireguard-go", "wg", "ip", "dig"});
  Pair p(2);
  Process daemon(p.client_argv({"--interval", "1s"}), p.dir.path() + "/daemon.log");
  CHECK(eventually([&] { return p.endpoint_of(1) == "198.51.100.2:10001"; }, 5000ms));
  REQUIRE(p.ns.exec("wg set " + p.registry.ifname() + " peer " + key_n(1).to_base64() + " endpoint 192.0.2.99:4242") == 0);
  CHECK(eventually([&] { return p.endpoint_of(1) == "192.0.2.99:4242"; }, 5000ms));
  const auto start = std::chrono::steady_clock::now();
  const int status = daemon.stop(SIGTERM, 3000ms);
  CHECK(std::chrono::steady_clock::now() - start < 1000ms);
  CHECK(status == 0);
}

TEST_CASE("one wgsd-client run over 1,000 peers", "[client][live][scale]") {
  require_live({"wireguard-go", "wg", "ip", "dig"});
  Pair p(1000);
  const auto start = std::chrono::steady_clock::now();
  std::string out;
  CHECK(p.run_client("--device " + p.client.ifname() + " --dns 127.0.0.1:5353 --zone example.com.", &out) == 0);
  const auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  CHECK(p.endpoint_of(1000) == "198.51.100.1:11000");
  std::size_t updated = 0;
  for (std::size_t pos = out.find("endpoint set to"); pos != std::string::npos; pos = out.find("endpoint set to", pos + 1)) ++updated;
  CHECK(updated == 1000);
  std::cout << "figure: one wgsd-client run over 1,000 peers took " << ms << " ms" << std::endl;
}
