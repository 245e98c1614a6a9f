// The edges of a round: a failing event loop, registries that disagree or lose the case of the
// question, a registry that restarts, a stop in the middle, many peers to write, and the bounds
// on what is in flight.
#include <catch2/catch.hpp>

#include <signal.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <sstream>
#include <thread>

#include "client/client.hpp"
#include "client/client_case.hpp"
#include "client/lookup.hpp"
#include "client/reply.hpp"
#include "client/resolver.hpp"
#include "client/scripted_dns.hpp"
#include "dns/names.hpp"
#include "support/fake_backend.hpp"
#include "support/keys.hpp"
#include "support/lab.hpp"
#include "support/uapi_server.hpp"
#include "wg/backend.hpp"

using namespace wgsd;
using namespace wgsd::test;
using namespace std::chrono_literals;
using Send = ScriptedDns::Send;

namespace {

const std::string device_name = "wgr0";

// The reply with its question name in lower case, as a resolver that answers from its cache might.
std::vector<std::uint8_t> question_lowered(std::vector<std::uint8_t> r) {
  // Length octets are at most 63, below 'A': every byte of the name in that range is a letter.
  for (std::size_t i = 12; i < r.size() && r[i] != 0; ++i) {
    if (r[i] >= 'A' && r[i] <= 'Z') r[i] = static_cast<std::uint8_t>(r[i] | 0x20);
  }
  return r;
}

std::vector<std::string> names(unsigned n) {
  std::vector<std::string> out;
  for (unsigned i = 1; i <= n; ++i) out.push_back(dns::instance_name(key_n(i), zone, true));
  return out;
}

}  // namespace

TEST_CASE("client: a poll that fails fails the lookups of the round without a crash", "[client][loop]") {
  ScriptedDns silent([](const auto&, bool, unsigned) { return std::vector<Send>{}; });
  client::LookupOptions o;
  o.timeout = 300ms;
  o.retries = 0;
  o.concurrency = 2;
  unsigned calls = 0;
  o.poll = [&](pollfd*, nfds_t, int) {
    ++calls;
    errno = ENOMEM;
    return -1;
  };
  const auto results = client::lookup_all(names(5), {loopback(silent.port())}, o);
  REQUIRE(results.size() == 5);
  for (const auto& r : results) {
    CHECK(r[0].kind == client::RegistryAnswer::Kind::failed);
    CHECK(r[0].error == "poll: " + std::string(std::strerror(ENOMEM)));
  }
  CHECK(calls == 1);  // the loop cannot wait: the round ends there
}

TEST_CASE("client: --concurrency bounds the exchanges in flight", "[client][loop]") {
  const unsigned limit = GENERATE(1u, 3u);
  CAPTURE(limit);
  ScriptedDns dns([](const auto& q, bool, unsigned) { return answer(q, "198.51.100.7"); });
  client::LookupOptions o;
  o.timeout = 2000ms;
  o.concurrency = limit;
  std::size_t most = 0;
  o.poll = [&](pollfd* fds, nfds_t n, int wait) {
    most = std::max<std::size_t>(most, n);  // one descriptor per exchange in flight (no stop fd here)
    return ::poll(fds, n, wait);
  };
  const auto results = client::lookup_all(names(12), {loopback(dns.port())}, o);
  for (const auto& r : results) CHECK(r[0].kind == client::RegistryAnswer::Kind::found);
  CHECK(dns.queries() == 12);
  CHECK(most == limit);
}

TEST_CASE("client: a registry that fails is a failed lookup when no other one knows the peer", "[client]") {
  ScriptedDns unknown([](const auto& q, bool, unsigned) { return std::vector<Send>{{reply_to(q, LDNS_RCODE_NXDOMAIN, {})}}; });
  const auto dead = free_port();
  FakeBackend backend;
  backend.put(device_with(device_name, 1));
  const auto report = client::run_once(client_options(device_name, {dead, unknown.port()}), backend);
  CHECK(report.peers[0].outcome == client::Outcome::lookup_failed);
  CHECK(report.exit_code() == 2);
  CHECK_THAT(report.peers[0].message, Catch::Contains("lookup failed: 127.0.0.1:" + std::to_string(dead) + ": "));
  CHECK_THAT(report.peers[0].message, Catch::Contains("not known to 127.0.0.1:" + std::to_string(unknown.port())));
  SECTION("a registry that knows the peer still wins over one that failed") {
    ScriptedDns good([](const auto& q, bool, unsigned) { return answer(q, "198.51.100.7"); });
    FakeBackend b;
    b.put(device_with(device_name, 1));
    const auto r = client::run_once(client_options(device_name, {dead, good.port()}), b);
    CHECK(r.peers[0].outcome == client::Outcome::updated);
    CHECK(r.exit_code() == 0);
  }
}

TEST_CASE("client: a registry that does not keep the case of the question is asked again over TCP", "[client][spoof]") {
  std::atomic<bool> tcp_answers{true};
  ScriptedDns dns([&](const auto& q, bool tcp, unsigned) {
    if (tcp && !tcp_answers) return std::vector<Send>{};
    return std::vector<Send>{{question_lowered(answer(q, "198.51.100.7")[0].bytes)}};
  });
  FakeBackend backend;
  backend.put(device_with(device_name, 1));
  auto o = client_options(device_name, {dns.port()});
  o.retries = 2;
  SECTION("over TCP any case is accepted") {
    const auto start = std::chrono::steady_clock::now();
    const auto report = client::run_once(o, backend);
    CHECK(report.peers[0].outcome == client::Outcome::updated);
    CHECK(backend.get_device("wgr0").peers[0].endpoint->to_string() == "198.51.100.7:40001");
    CHECK(dns.queries() == 2);                                     // one over UDP, one over TCP
    CHECK(std::chrono::steady_clock::now() - start < 250ms);       // not after the UDP timeout
  }
  SECTION("when TCP fails too, the failure says why") {
    tcp_answers = false;
    const auto report = client::run_once(o, backend);
    CHECK(report.peers[0].outcome == client::Outcome::lookup_failed);
    CHECK_THAT(report.peers[0].message, Catch::Contains("did not keep the case of the question (0x20)"));
    CHECK(backend.applied().empty());
  }
}

TEST_CASE("client: a registry that restarts is asked again after a short wait", "[client][spoof]") {
  // Port unreachable at once, then the registry comes up: the retry must not be spent at once.
  const auto port = free_port();
  std::optional<ScriptedDns> dns;
  std::thread later([&] {
    std::this_thread::sleep_for(100ms);
    dns.emplace([](const auto& q, bool, unsigned) { return answer(q, "198.51.100.7"); }, port);
  });
  FakeBackend backend;
  backend.put(device_with(device_name, 1));
  auto o = client_options(device_name, {port});
  o.timeout = 2000ms;
  o.retries = 5;  // up to a second of short waits, time enough for the registry to come up
  const auto report = client::run_once(o, backend);
  later.join();
  CHECK(report.peers[0].outcome == client::Outcome::updated);
  CHECK(dns->queries() == 1);
}

TEST_CASE("client: a stop during the lookups keeps the report and marks unfinished peers stopped", "[client]") {
  std::atomic<bool> stop{false};
  ScriptedDns dns([&](const auto& q, bool, unsigned n) {
    if (n == 1) return answer(q, "198.51.100.7");
    stop = true;  // the second peer's query: stopped while it waits
    return std::vector<Send>{};
  });
  FakeBackend backend;
  auto d = device_with(device_name, 3);
  d.peers[2].last_handshake = wg::Clock::now();
  backend.put(d);
  auto o = client_options(device_name, {dns.port()});
  o.timeout = 5000ms;
  o.concurrency = 1;
  const auto start = std::chrono::steady_clock::now();
  const auto report = client::run_once(o, backend, &stop);
  CHECK(std::chrono::steady_clock::now() - start < 2000ms);
  REQUIRE(report.peers.size() == 3);
  CHECK(report.peers[0].outcome == client::Outcome::stopped);
  CHECK_THAT(report.peers[0].message, Catch::Contains("stopped before writing 198.51.100.7:40001"));
  CHECK(report.peers[1].outcome == client::Outcome::stopped);
  CHECK(report.peers[1].message == "stopped before the lookup finished");
  CHECK(report.peers[2].outcome == client::Outcome::fresh);
  CHECK(report.exit_code() == 0);
  CHECK(backend.applied().empty());
  std::ostringstream json;
  client::print_json(report, false, json);
  CHECK_THAT(json.str(), Catch::Contains("\"outcome\":\"stopped\""));
}

namespace {

// Counts device reads; optionally slow to write, and shows peer `fresh_after_write` with a new
// handshake once the first write is done.
struct Counting : wg::Backend {
  FakeBackend inner;
  unsigned reads{};
  unsigned writes{};
  std::chrono::milliseconds write_takes{0};
  std::optional<std::size_t> fresh_after_write;
  wg::Device get_device(const std::string& n) override {
    ++reads;
    auto d = inner.get_device(n);
    if (fresh_after_write && writes > 0) d.peers[*fresh_after_write].last_handshake = wg::Clock::now();
    return d;
  }
  void apply(const wg::DeviceUpdate& u) override {
    std::this_thread::sleep_for(write_takes);
    ++writes;
    inner.apply(u);
  }
};

}  // namespace

TEST_CASE("client: writing many peers reads the device again by time and not per small batch", "[client][write]") {
  constexpr unsigned peers = 600;
  ScriptedDns dns([](const auto& q, bool, unsigned) { return answer(q, "198.51.100.7"); });
  Counting backend;
  backend.inner.put(device_with(device_name, peers));
  auto o = client_options(device_name, {dns.port()});
  o.timeout = 2000ms;
  SECTION("a quick device is read once more before the writes") {
    const auto report = client::run_once(o, backend);
    CHECK(report.exit_code() == 0);
    CHECK(backend.reads <= 3);   // before the lookups and right before writing (once more if the machine is slow)
    CHECK(backend.writes == 3);  // 256 peers per write
    CHECK(backend.inner.get_device("wgr0").peers[peers - 1].endpoint->to_string() == "198.51.100.7:40001");
  }
  SECTION("a slow device is read again before each write, and a tunnel that came up is left alone") {
    backend.write_takes = 150ms;
    backend.fresh_after_write = 300;  // in the second write
    const auto report = client::run_once(o, backend);
    CHECK(backend.reads == 4);
    CHECK(report.peers[300].outcome == client::Outcome::fresh);
    CHECK_FALSE(backend.inner.get_device("wgr0").peers[300].endpoint.has_value());
    CHECK(report.peers[301].outcome == client::Outcome::updated);
  }
}

TEST_CASE("client reads the TXT handshake= key without regard to case", "[client][txt]") {
  const std::string name = dns::instance_name(key_n(1), zone, true);
  std::uint16_t id = 0;
  const auto q = client::build_query(name, 33, id, false);
  const auto r = reply_to(q, LDNS_RCODE_NOERROR, {name + " 0 IN SRV 0 0 40001 " + name},
                          {name + " 0 IN A 198.51.100.7", name + " 0 IN TXT \"txtvers=1\" \"HandShake=300\""});
  const auto srv = client::read_srv_reply(r, name);
  REQUIRE(srv.kind == client::SrvReply::Kind::found);
  CHECK(srv.handshake == 300);
}

TEST_CASE("client takes SRV target '.' as no service: not known and nothing more asked", "[client]") {
  ScriptedDns dns([](const auto& q, bool, unsigned) {
    return std::vector<Send>{{reply_to(q, LDNS_RCODE_NOERROR, {qname_of(q) + " 0 IN SRV 0 0 40001 ."})}};
  });
  FakeBackend backend;
  backend.put(device_with(device_name, 1));
  const auto report = client::run_once(client_options(device_name, {dns.port()}), backend);
  CHECK(report.peers[0].outcome == client::Outcome::unknown);
  CHECK(report.exit_code() == 0);
  CHECK(dns.queries() == 1);
}

TEST_CASE("wgsd-client stopped by SIGTERM during a round prints the report and keeps its exit code", "[client][live]") {
  require_live({});
  // A stand-in for the device's UAPI socket (root: the directory is root's), one peer, no handshake.
  sh("mkdir -p " + std::string(wg::default_uapi_dir));
  const std::string device = unique_name("wgstop");
  UapiServer uapi(wg::default_uapi_dir, device);
  uapi.set_reply("listen_port=51820\npublic_key=" + wg::hex_encode(key_n(1).bytes()) + "\nerrno=0\n\n");
  ScriptedDns silent([](const auto&, bool, unsigned) { return std::vector<Send>{}; });
  TempDir dir;
  const std::string log = dir.path() + "/client.log";
  Process client({WGSD_CLIENT_BIN, "--device", device, "--backend", "uapi", "--dns", "127.0.0.1:" + std::to_string(silent.port()),
                  "--zone", "example.com.", "--timeout", "10s", "--retries", "0"},
                 log);
  REQUIRE(eventually([&] { return silent.queries() == 1; }, 5000ms));
  const int status = client.stop(SIGTERM, 3000ms);
  INFO(sh_out("cat " + log));
  CHECK(status == 0);
  CHECK_THAT(sh_out("cat " + log), Catch::Contains("wgsd-client: " + key_n(1).to_base64() + ": stopped before the lookup finished"));
}
