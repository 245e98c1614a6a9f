// wgsd-server with `tsig`, asked by dig -y and kdig -y: signed answers validate, a wrong secret or
// algorithm and a skewed clock fail as RFC 8945 says; --check refuses an unsupported algorithm.
#include <catch2/catch.hpp>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ctime>
#include <fstream>

#include "dns/tsig.hpp"
#include "dns/wire.hpp"
#include "support/lab.hpp"

using namespace wgsd;
using namespace wgsd::test;
using namespace std::chrono_literals;

namespace {

constexpr const char* secret = "c2VjcmV0LWZvci13Z3NkLXRzaWctdGVzdHMtMzItYnl0ZXM=";
constexpr const char* secret512 = "bG9uZ2VyLXNlY3JldC1mb3ItaG1hYy1zaGE1MTItaW4td2dzZC10c2lnLXRlc3RzLTY0LWJ5dGVzLW9mLWtleQ==";

// One UDP exchange with 127.0.0.1:port; empty on timeout.
std::vector<std::uint8_t> udp_exchange(unsigned short port, const std::vector<std::uint8_t>& q) {
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  REQUIRE(fd >= 0);
  timeval tv{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sendto(fd, q.data(), q.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  std::vector<std::uint8_t> r(65535);
  const ssize_t n = recv(fd, r.data(), r.size(), 0);
  close(fd);
  r.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  return r;
}

}  // namespace

TEST_CASE("wgsd-server signs for dig -y and kdig -y and refuses wrong keys and skewed clocks", "[server][main][tsig]") {
  TempDir dir;
  const auto port = free_port();
  const std::string p = std::to_string(port);
  std::ofstream(dir.path() + "/keys") << "key \"k512.example\" {\n\talgorithm hmac-sha512;\n\tsecret \"" << secret512 << "\";\n};\n";
  std::ofstream(dir.path() + "/Corefile") << ".:" << port << " {\n  bind 127.0.0.1\n  wgsd example.org. wgabsent1 {\n    backend uapi\n"
                                          << "    ns ns.example.\n  }\n  tsig {\n    secret key.example. " << secret << "\n    secrets "
                                          << dir.path() << "/keys\n    require SOA\n  }\n}\n";
  CHECK(sh_out(std::string(WGSD_SERVER_BIN) + " --conf " + dir.path() + "/Corefile --check") == "OK\n");
  Process server({WGSD_SERVER_BIN, "--conf", dir.path() + "/Corefile"}, dir.path() + "/log");
  const std::string at = " @127.0.0.1 -p " + p + " ";
  REQUIRE(eventually([&] { return sh("dig +time=1 +tries=1" + at + "example.org. A 2>/dev/null | grep -q 'status: SERVFAIL'") == 0; }, 3000ms));

  // A device that cannot be read answers SERVFAIL: signed all the same, and the signature checks.
  const std::string dig = "dig +nocookie +time=1 +tries=1";
  const std::string good = sh_out(dig + " -y hmac-sha256:key.example.:" + secret + at + "example.org. SOA 2>&1");
  CHECK_THAT(good, Catch::Contains("status: SERVFAIL"));
  CHECK_THAT(good, Catch::Contains("TSIG\thmac-sha256."));
  CHECK_THAT(good, !Catch::Contains("could not be validated") && !Catch::Contains("verify"));
  const std::string sha512 = sh_out(dig + " -y hmac-sha512:k512.example:" + secret512 + at + "other.test. A 2>&1");
  CHECK_THAT(sha512, Catch::Contains("status: REFUSED"));
  CHECK_THAT(sha512, Catch::Contains("TSIG\thmac-sha512."));
  CHECK_THAT(sha512, !Catch::Contains("could not be validated") && !Catch::Contains("verify"));
  for (const std::string tcp : {"", " +tcp"}) {
    const std::string k = sh_out("kdig +time=1 +retry=0 -y hmac-sha256:key.example.:" + std::string(secret) + at + "example.org. SOA" + tcp + " 2>&1");
    CAPTURE(tcp);
    CHECK_THAT(k, Catch::Contains("status: SERVFAIL"));
    CHECK_THAT(k, Catch::Contains("NOERROR 0"));  // the TSIG's own error field
    CHECK_THAT(k, !Catch::Contains("WARNING"));
  }

  // `require SOA`: unsigned SOA is refused, unsigned A is not.
  CHECK_THAT(sh_out(dig + at + "example.org. SOA 2>&1"), Catch::Contains("status: REFUSED"));
  CHECK_THAT(sh_out(dig + at + "example.org. A 2>&1"), Catch::Contains("status: SERVFAIL"));

  // A wrong secret: BADSIG; the right name with another algorithm: BADKEY; both unsigned.
  const std::string wrong = sh_out(dig + " -y hmac-sha256:key.example.:d3Jvbmctc2VjcmV0" + at + "example.org. SOA 2>&1");
  CHECK_THAT(wrong, Catch::Contains("status: NOTAUTH") && Catch::Contains(" BADSIG 0"));
  const std::string alg = sh_out("kdig +time=1 +retry=0 -y hmac-sha512:key.example.:" + std::string(secret) + at + "example.org. SOA 2>&1");
  CHECK_THAT(alg, Catch::Contains("BADKEY"));

  // A request signed 1000 s in the past: BADTIME, signed, with the server's time in other data.
  std::string error;
  const auto key = dns::tsig::make_key("key.example.", "hmac-sha256", secret, error);
  REQUIRE(key);
  const auto qname = *dns::name_to_wire("example.org.");
  std::vector<std::uint8_t> q = {0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0};
  q.insert(q.end(), qname.begin(), qname.end());
  q.insert(q.end(), {0, 1, 0, 1});
  const std::size_t length = q.size();
  q.resize(length + 200);
  const auto then = static_cast<std::uint64_t>(std::time(nullptr)) - 1000;
  dns::tsig::SignParams sp;
  sp.time_signed = then;
  sp.original_id = 0x1234;
  q.resize(dns::tsig::sign(q, length, *key, sp));
  std::size_t owner = 0;
  REQUIRE(dns::tsig::locate(q, owner) == dns::tsig::Found::last);
  const auto qrec = dns::tsig::read_record(q, owner);
  REQUIRE(qrec);
  const auto r = udp_exchange(port, q);
  REQUIRE(r.size() > 12);
  CHECK((r[3] & 0x0f) == dns::rcode::notauth);
  REQUIRE(dns::tsig::locate(r, owner) == dns::tsig::Found::last);
  const auto rrec = dns::tsig::read_record(r, owner);
  REQUIRE(rrec);
  CHECK(rrec->error == dns::tsig::badtime);
  REQUIRE(rrec->other_length == 6);
  std::uint64_t server_time = 0;
  for (std::size_t i = 0; i < 6; ++i) server_time = (server_time << 8) | r[rrec->other_offset + i];
  CHECK(server_time >= then + 999);
  CHECK(server_time <= then + 1100);
  // Verified at the requester's (skewed) clock, the answer is a good BADTIME.
  CHECK(dns::tsig::verify_response(r, *rrec, *key, dns::tsig::mac_of(q, *qrec), then) == dns::tsig::Check::badtime);

  CHECK(server.stop(SIGTERM) == 0);
  CHECK_THAT(sh_out("cat " + dir.path() + "/log"), !Catch::Contains(secret) && !Catch::Contains(secret512));
}

TEST_CASE("wgsd-server --check refuses a key file with an unsupported algorithm, by name and line", "[server][main][tsig]") {
  TempDir dir;
  std::ofstream(dir.path() + "/keys") << "key \"old\" {\n\talgorithm hmac-md5;\n\tsecret \"" << secret << "\";\n};\n";
  std::ofstream(dir.path() + "/Corefile") << ".:5353 {\n  wgsd example.org. wg0 {\n    ns ns.example.\n  }\n  tsig {\n    secrets "
                                          << dir.path() << "/keys\n  }\n}\n";
  CHECK(sh(std::string(WGSD_SERVER_BIN) + " --conf " + dir.path() + "/Corefile --check 2>" + dir.path() + "/err") == 1);
  CHECK(sh_out("cat " + dir.path() + "/err") == dir.path() + "/Corefile:6: tsig: secrets: " + dir.path() +
                                                     "/keys:2: key 'old': unsupported TSIG algorithm 'hmac-md5' (hmac-sha256 or hmac-sha512)\n");
}

TEST_CASE("wgsd-server takes new TSIG keys with the Corefile on SIGHUP", "[server][main][tsig][reload]") {
  TempDir dir;
  const auto port = free_port();
  const std::string path = dir.path() + "/Corefile";
  auto write = [&](const char* name) {
    std::ofstream(path) << ".:" << port << " {\n  bind 127.0.0.1\n  wgsd example.org. wgabsent2 {\n    backend uapi\n    ns ns.example.\n  }\n"
                        << "  tsig {\n    secret " << name << " " << secret << "\n  }\n}\n";
  };
  write("old.example.");
  Process server({WGSD_SERVER_BIN, "--conf", path}, dir.path() + "/log");
  auto tsig_error = [&](const char* name) {
    return sh_out("dig +nocookie +time=1 +tries=1 -y hmac-sha256:" + std::string(name) + ":" + secret + " @127.0.0.1 -p " +
                  std::to_string(port) + " example.org. SOA 2>&1 | grep -o -E '(NOERROR|BADKEY) 0 *$' | cut -d' ' -f1");
  };
  REQUIRE(eventually([&] { return tsig_error("old.example.") == "NOERROR\n"; }, 3000ms));
  CHECK(tsig_error("new.example.") == "BADKEY\n");
  write("new.example.");
  ::kill(server.pid(), SIGHUP);
  CHECK(eventually([&] { return tsig_error("new.example.") == "NOERROR\n"; }, 3000ms));
  CHECK(tsig_error("old.example.") == "BADKEY\n");
}

TEST_CASE("wgsd-server accepts a key only in the server block and zones of its tsig, over UDP and TCP", "[server][main][tsig]") {
  TempDir dir;
  const auto port = free_port();
  const std::string p = std::to_string(port);
  std::ofstream(dir.path() + "/Corefile") << "a.example.:" << port << " {\n  bind 127.0.0.1\n  wgsd a.example. wgabsent3 {\n    backend uapi\n"
                                          << "    ns ns.example.\n  }\n  tsig {\n    secret a.key. " << secret << "\n  }\n}\n"
                                          << "b.example.:" << port << " {\n  bind 127.0.0.1\n  wgsd b.example. wgabsent4 {\n    backend uapi\n"
                                          << "    ns ns.example.\n  }\n  tsig {\n    secret b.key. " << secret512 << "\n  }\n}\n";
  Process server({WGSD_SERVER_BIN, "--conf", dir.path() + "/Corefile"}, dir.path() + "/log");
  const std::string at = " @127.0.0.1 -p " + p + " ";
  REQUIRE(eventually([&] { return sh("dig +time=1 +tries=1" + at + "a.example. A 2>/dev/null | grep -q 'status: SERVFAIL'") == 0; }, 3000ms));
  // "STATUS TSIG-ERROR" of a signed SOA query for `zone` with `key`.
  auto outcome = [&](const std::string& zone, const std::string& key, const std::string& tcp) {
    return sh_out("dig +nocookie +time=1 +tries=1" + tcp + " -y hmac-sha256:" + key + at + zone + " SOA 2>&1 | " +
                  "sed -n -e 's/.*status: \\([A-Z]*\\),.*/\\1/p' -e 's/.* \\([A-Z]*\\) 0 *$/\\1/p' | tr '\\n' ' '");
  };
  const std::string a = std::string("a.key.:") + secret, b = std::string("b.key.:") + secret512;
  for (const std::string tcp : {"", " +tcp"}) {
    CAPTURE(tcp);
    CHECK(outcome("a.example.", a, tcp) == "SERVFAIL NOERROR ");
    CHECK(outcome("b.example.", b, tcp) == "SERVFAIL NOERROR ");
    CHECK(outcome("a.example.", b, tcp) == "NOTAUTH BADKEY ");
    CHECK(outcome("b.example.", a, tcp) == "NOTAUTH BADKEY ");
  }
}

TEST_CASE("wgsd-server never logs key material: not in query and error logs, nor in reload errors", "[server][main][tsig][reload]") {
  TempDir dir;
  const auto port = free_port();
  const std::string path = dir.path() + "/Corefile";
  // Secrets that could leak whole or in part: the good one, and one that is not base64.
  const std::string broken = "bm90LWJhc2U2NC1zZWNyZXQtbXVzdC1ub3QtbGVhaw!!";
  std::ofstream(dir.path() + "/keys") << "key \"file.example\" {\n\talgorithm hmac-sha512;\n\tsecret \"" << secret512 << "\";\n};\n";
  auto write = [&](const std::string& the_secret) {
    std::ofstream(path) << ".:" << port << " {\n  bind 127.0.0.1\n  log\n  errors\n  wgsd example.org. wgabsent5 {\n    backend uapi\n"
                        << "    ns ns.example.\n  }\n  tsig {\n    secret key.example. " << the_secret << "\n    secrets " << dir.path()
                        << "/keys\n  }\n}\n";
  };
  write(secret);
  Process server({WGSD_SERVER_BIN, "--conf", path}, dir.path() + "/log");
  const std::string dig = "dig +nocookie +time=1 +tries=1 @127.0.0.1 -p " + std::to_string(port) + " ";
  REQUIRE(eventually([&] { return sh(dig + "-y hmac-sha256:key.example.:" + secret + " example.org. SOA 2>/dev/null | grep -q SERVFAIL") == 0; }, 3000ms));
  // Good, wrong and unknown keys, logged by `log`; a device that cannot be read, logged by `errors`.
  sh(dig + "-y hmac-sha512:file.example:" + secret512 + " example.org. SOA >/dev/null 2>&1");
  sh(dig + "-y hmac-sha256:key.example.:d3Jvbmctc2VjcmV0 example.org. SOA >/dev/null 2>&1");
  sh(dig + "-y hmac-sha256:nobody.example.:" + std::string(secret) + " example.org. SOA >/dev/null 2>&1");
  // A reload whose secret is not base64: refused, and the error names the key, not the secret.
  write(broken);
  ::kill(server.pid(), SIGHUP);
  CHECK(eventually([&] { return sh("grep -q 'is not base64' " + dir.path() + "/log") == 0; }, 3000ms));
  // Back to the good secret.
  write(secret);
  ::kill(server.pid(), SIGHUP);
  CHECK(eventually([&] { return sh("grep -q 'back to the running configuration' " + dir.path() + "/log") == 0; }, 3000ms));
  CHECK(server.stop(SIGTERM) == 0);
  const std::string log = sh_out("cat " + dir.path() + "/log");
  CHECK_THAT(log, Catch::Contains("key.example"));  // the log saw the queries and the errors
  for (const std::string& s : {std::string(secret), std::string(secret512), broken, std::string("d3Jvbmctc2VjcmV0")}) {
    CAPTURE(s);
    CHECK_THAT(log, !Catch::Contains(s.substr(0, 12)));
  }
}
