// `health`, `ready` and `prometheus` through the running server, with curl as an operator would
// use them: what each path answers, readiness following the device, addresses that cannot be
// bound, reloads that move an address, and metrics that count exactly what was sent.
#include <catch2/catch.hpp>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "dns/fixtures.hpp"
#include "server/server.hpp"
#include "support/dns_case.hpp"
#include "support/http_get.hpp"
#include "support/lab.hpp"
#include "support/serving.hpp"
#include "support/uapi_server.hpp"
#include "wg/backend_testing.hpp"

using namespace wgsd;
using namespace wgsd::test;

namespace {

std::string p(std::uint16_t port) { return std::to_string(port); }

// The reference zone on `dns` (loopback), with `extra` directives in its block.
std::string corefile(std::uint16_t dns, const std::string& extra) {
  return "example.com:" + p(dns) + " {\n bind 127.0.0.1\n wgsd example.com. wgref0 {\n  ns ns.example.\n }\n" + extra + "}\n";
}

// Sends `q` over UDP to 127.0.0.1:port; true when an answer came.
bool ask_udp(std::uint16_t port, const std::vector<std::uint8_t>& q) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  const auto to = loopback_address(port);
  (void)::sendto(fd, q.data(), q.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof to);
  pollfd pf{fd, POLLIN, 0};
  const bool answered = ::poll(&pf, 1, 2000) == 1;
  ::close(fd);
  return answered;
}

// The value of the sample of `family` whose labels contain every one of `labels` ("k=\"v\""); 0 if none.
double sample(const std::string& text, const std::string& family, const std::vector<std::string>& labels) {
  std::istringstream in(text);
  double total = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(family + "{", 0) != 0) continue;
    const auto close = line.rfind('}');
    const std::string set = line.substr(family.size(), close - family.size() + 1);
    bool all = true;
    for (const auto& l : labels) all = all && set.find(l) != std::string::npos;
    if (all) total += std::stod(line.substr(close + 2));
  }
  return total;
}

}  // namespace

TEST_CASE("health, ready and prometheus: their paths answer, others are 404, other methods 405", "[server][http]") {
  const auto dns = free_port();
  const auto metrics = free_port();
  const auto health = free_port();
  const auto ready = free_port();
  Serving s(corefile(dns, " prometheus 127.0.0.1:" + p(metrics) + "\n health 127.0.0.1:" + p(health) + "\n ready 127.0.0.1:" + p(ready) + "\n"));

  const auto h = curl(health, "/health");
  CHECK(h.status == 200);
  CHECK(h.body == "OK");
  const auto r = curl(ready, "/ready");
  CHECK(r.status == 200);
  CHECK(r.body == "OK");
  const auto m = curl(metrics, "/metrics");
  CHECK(m.status == 200);
  CHECK(m.body.find("# TYPE coredns_dns_requests_total counter") != std::string::npos);
  CHECK(m.body.find("wgsd_build_info{version=\"") != std::string::npos);
  CHECK(m.body.find("process_start_time_seconds ") != std::string::npos);

  // Each address serves only what names it.
  CHECK(curl(health, "/metrics").status == 404);
  CHECK(curl(metrics, "/health").status == 404);
  CHECK(curl(ready, "/").status == 404);
  CHECK(curl(health, "/health/../etc/passwd").status == 404);
  CHECK(curl(health, "/health", "POST").status == 405);
  CHECK(curl(metrics, "/metrics", "DELETE").status == 405);
  CHECK(curl(ready, "/ready", "PUT").status == 405);
}

TEST_CASE("ready is 503 naming the zone until its device can be read, then 200", "[server][http]") {
  TempDir dir;
  const auto dns = free_port();
  const auto ready = free_port();
  const auto device = unique_name("wgrdy");
  const std::string text = "example.com:" + p(dns) + " {\n bind 127.0.0.1\n wgsd example.com. " + device +
                           " {\n  ns ns.example.\n  refresh 50ms\n }\n}\n" + "other.test:" + p(dns) +
                           " {\n bind 127.0.0.1\n wgsd other.test. wgref0 {\n  ns ns.example.\n }\n ready 127.0.0.1:" + p(ready) + "\n}\n";
  // Two zones: one on the reference device (always there), one whose UAPI socket does not exist yet.
  FakeBackend fake;
  fake.put(reference_device());
  const std::string sockets = dir.path();
  server::Log log{[](const std::string&) {}};
  server::Server server(
      server::parse_config(text, "Corefile"),
      [&](const server::ZoneConfig& z) -> std::unique_ptr<wg::Backend> {
        if (z.device == "wgref0") return std::make_unique<SharedBackend>(fake);
        return wg::make_uapi_backend({sockets, std::chrono::milliseconds(500)});
      },
      log);
  server.start();

  const auto before = curl(ready, "/ready");
  CHECK(before.status == 503);
  CHECK(before.body == "example.com.\n");  // only the zone not ready

  UapiServer uapi(sockets, device);
  uapi.set_reply("listen_port=51820\npublic_key=" + wg::hex_encode(key_from_b64(self_key).bytes()) + "\nerrno=0\n\n");
  HttpReply after;
  for (int i = 0; i < 100; ++i) {  // at most 5 s; a refresh is due every 50 ms
    after = curl(ready, "/ready");
    if (after.status == 200) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(after.status == 200);
  CHECK(after.body == "OK");
}

TEST_CASE("an HTTP address in use is a clear error at start and at reload, and the running configuration stays", "[server][http][reload]") {
  const auto dns = free_port();
  const auto taken = free_port();
  const auto health = free_port();
  // Something else listens on `taken`.
  const int other = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const auto sin = loopback_address(taken);
  REQUIRE(::bind(other, reinterpret_cast<const sockaddr*>(&sin), sizeof sin) == 0);
  REQUIRE(::listen(other, 4) == 0);

  FakeBackend backend;
  backend.put(reference_device());
  server::Log log{[](const std::string&) {}};
  const std::string bad = corefile(dns, " health 127.0.0.1:" + p(health) + "\n prometheus 127.0.0.1:" + p(taken) + "\n");
  CHECK_THROWS_WITH(server::Server(server::parse_config(bad, "Corefile"), sharing(backend), log),
                    "Corefile:7: prometheus: cannot listen on 127.0.0.1:" + p(taken) + ": Address already in use");

  server::Server running(server::parse_config(corefile(dns, " health 127.0.0.1:" + p(health) + "\n"), "Corefile"), sharing(backend), log);
  running.start();
  CHECK_THROWS_WITH(running.reload(server::parse_config(bad, "Corefile")),
                    "Corefile:7: prometheus: cannot listen on 127.0.0.1:" + p(taken) + ": Address already in use");
  // Still serving the old configuration: DNS and its health address.
  CHECK(curl(health, "/health").status == 200);
  CHECK(ask_udp(dns, make_query(name1, LDNS_RR_TYPE_SRV)));
  ::close(other);

  // A bad address is refused when the Corefile is read, naming it.
  CHECK_THROWS_WITH(server::parse_config(corefile(dns, " prometheus 127.0.0.1\n"), "Corefile"),
                    "Corefile:6: prometheus: ADDRESS must be HOST:PORT such as localhost:9153, [::1]:9153 or :PORT, got '127.0.0.1'");
  CHECK_THROWS_WITH(server::parse_config(corefile(dns, " ready [::1]:99999\n"), "Corefile"),
                    Catch::StartsWith("Corefile:6: ready: ADDRESS must be HOST:PORT"));
  CHECK_THROWS_WITH(server::parse_config(corefile(dns, " health :8080 {\n  lameduck soon\n }\n"), "Corefile"),
                    Catch::StartsWith("Corefile:7: health: lameduck: expected a duration"));
  CHECK_THROWS_WITH(server::parse_config(corefile(dns, " health :8080 {\n  lamb 1s\n }\n"), "Corefile"),
                    "Corefile:7: unknown property 'lamb' in health block (expected lameduck)");
  CHECK_THROWS_WITH(server::parse_config(corefile(dns, " ready :8181 {\n }\n"), "Corefile"), "Corefile:6: ready: does not take a block");
  const auto defaults = server::parse_config(corefile(dns, " prometheus\n health {\n  lameduck 2s\n }\n ready\n status\n"), "Corefile");
  REQUIRE(defaults.http.size() == 4);
  CHECK(defaults.http[0].address.to_string() == "127.0.0.1:9153");
  CHECK(defaults.http[1].address.to_string() == ":8080");
  CHECK(defaults.http[2].address.to_string() == ":8181");
  CHECK(defaults.http[3].address.to_string() == "127.0.0.1:8053");
  CHECK(defaults.lameduck == std::chrono::milliseconds(2000));
}

TEST_CASE("a reload moves an HTTP address, and blocks naming one address share it", "[server][http][reload]") {
  const auto dns = free_port();
  const auto first = free_port();
  const auto second = free_port();
  const auto two_blocks = [&](std::uint16_t port) {
    return corefile(dns, " prometheus 127.0.0.1:" + p(port) + "\n") + "other.test:" + p(dns) +
           " {\n bind 127.0.0.1\n wgsd other.test. wgref0 {\n  ns ns.example.\n }\n prometheus 127.0.0.1:" + p(port) + "\n health 127.0.0.1:" +
           p(port) + "\n}\n";
  };
  Serving s(two_blocks(first));
  CHECK(curl(first, "/metrics").status == 200);
  CHECK(curl(first, "/health").status == 200);

  s.server->reload(server::parse_config(two_blocks(second), "Corefile"));
  CHECK(curl(second, "/metrics").status == 200);
  CHECK(curl(first, "/metrics").status == 0);  // closed

  // Kept address, fewer routes: /health goes, /metrics stays.
  s.server->reload(server::parse_config(corefile(dns, " prometheus 127.0.0.1:" + p(second) + "\n"), "Corefile"));
  CHECK(curl(second, "/metrics").status == 200);
  CHECK(curl(second, "/health").status == 404);
}

TEST_CASE("metrics count what was sent: queries by type, REFUSED by acl, no zone as dropped", "[server][http]") {
  const auto dns = free_port();
  const auto metrics = free_port();
  Serving s(corefile(dns, " prometheus 127.0.0.1:" + p(metrics) + "\n acl {\n  block type TXT\n }\n"));
  const std::string server_label = "server=\"dns://127.0.0.1:" + p(dns) + "\"";
  const std::string zone = "zone=\"example.com.\"";

  constexpr int srv = 7;
  for (int i = 0; i < srv; ++i) REQUIRE(ask_udp(dns, make_query(name1, LDNS_RR_TYPE_SRV)));
  REQUIRE(ask_udp(dns, make_query(name1, LDNS_RR_TYPE_TXT)));     // blocked by acl
  REQUIRE(ask_udp(dns, make_query("example.net.", LDNS_RR_TYPE_A)));  // not a zone of ours

  const auto text = curl(metrics, "/metrics").body;
  CHECK(sample(text, "coredns_dns_requests_total", {server_label, zone, "proto=\"udp\"", "family=\"1\"", "type=\"SRV\"", "view=\"\""}) == srv);
  CHECK(sample(text, "coredns_dns_responses_total", {server_label, zone, "rcode=\"NOERROR\"", "plugin=\"wgsd\""}) == srv);
  CHECK(sample(text, "coredns_dns_responses_total", {server_label, zone, "rcode=\"REFUSED\"", "plugin=\"acl\""}) == 1);
  CHECK(sample(text, "coredns_acl_blocked_requests_total", {server_label, zone}) == 1);
  CHECK(sample(text, "coredns_acl_allowed_requests_total", {server_label, zone}) == srv);
  CHECK(sample(text, "coredns_dns_requests_total", {server_label, "zone=\"dropped\"", "type=\"A\""}) == 1);
  CHECK(sample(text, "coredns_dns_responses_total", {server_label, "zone=\"dropped\"", "rcode=\"REFUSED\"", "plugin=\"\""}) == 1);
  CHECK(sample(text, "coredns_dns_request_duration_seconds_count", {server_label, zone, "type=\"SRV\""}) == srv);
  CHECK(sample(text, "coredns_dns_request_size_bytes_count", {server_label, zone, "proto=\"udp\""}) == srv + 1);
  CHECK(sample(text, "coredns_dns_response_size_bytes_bucket", {server_label, zone, "proto=\"udp\"", "le=\"+Inf\""}) == srv + 1);
  // From the refresher: the reference device has two peers with an endpoint and one without, and
  // no `self` here.
  CHECK(sample(text, "wgsd_peers", {zone, "state=\"published\""}) == 2);
  CHECK(sample(text, "wgsd_peers", {zone, "state=\"no_endpoint\""}) == 1);
  CHECK(sample(text, "wgsd_device_reads_total", {zone, "result=\"ok\""}) >= 1);
  CHECK(sample(text, "wgsd_snapshot_builds_total", {zone}) >= 1);
  CHECK(sample(text, "wgsd_zone_serial", {zone}) > 0);
  CHECK(sample(text, "wgsd_last_good_read_timestamp_seconds", {zone}) > 1.7e9);

  // Without `prometheus` nothing is counted: a reload that removes it stops the counting.
  s.server->reload(server::parse_config(corefile(dns, " prometheus 127.0.0.1:" + p(metrics) + "\n"), "Corefile"));
  REQUIRE(ask_udp(dns, make_query(name1, LDNS_RR_TYPE_SRV)));
  const auto more = curl(metrics, "/metrics").body;
  CHECK(sample(more, "coredns_dns_requests_total", {server_label, zone, "type=\"SRV\""}) == srv + 1);
  CHECK(sample(more, "coredns_acl_allowed_requests_total", {server_label, zone}) == srv);  // no acl here now: not counted
  s.server->reload(server::parse_config(corefile(dns, " health 127.0.0.1:" + p(metrics) + "\n"), "Corefile"));
  REQUIRE(ask_udp(dns, make_query(name1, LDNS_RR_TYPE_SRV)));
  s.server->reload(server::parse_config(corefile(dns, " prometheus 127.0.0.1:" + p(metrics) + "\n"), "Corefile"));
  CHECK(sample(curl(metrics, "/metrics").body, "coredns_dns_requests_total", {server_label, zone, "type=\"SRV\""}) == srv + 1);
}

namespace {

// Reads that wait while the test keeps the gate shut; `waiting` counts the reads held.
struct Gate {
  std::mutex mutex;
  std::condition_variable changed;
  bool shut{};
  int waiting{};
  void set(bool closed) {
    {
      std::lock_guard lock(mutex);
      shut = closed;
    }
    changed.notify_all();
  }
  void pass() {
    std::unique_lock lock(mutex);
    ++waiting;
    changed.notify_all();
    changed.wait(lock, [&] { return !shut; });
    --waiting;
  }
  bool held() {
    std::lock_guard lock(mutex);
    return waiting > 0;
  }
};

struct GatedBackend : wg::Backend {
  FakeBackend& inner;
  Gate& gate;
  GatedBackend(FakeBackend& b, Gate& g) : inner(b), gate(g) {}
  wg::Device get_device(const std::string& n) override {
    gate.pass();
    return inner.get_device(n);
  }
  void apply(const wg::DeviceUpdate& u) override { inner.apply(u); }
};

}  // namespace

TEST_CASE("a ready address a reload adds answers 200 from its first answer for the zones the reload keeps", "[server][http][reload]") {
  const auto dns = free_port();
  const auto ready = free_port();
  FakeBackend fake;
  fake.put(reference_device());
  server::Log log{[](const std::string&) {}};
  // a.test's reads by the running refresher, and b.test's by the reload, wait at their gates.
  Gate running_a;
  Gate reload_b;
  Gate open;
  int made = 0;
  const auto factory = [&](const server::ZoneConfig& z) -> std::unique_ptr<wg::Backend> {
    const bool reloading = ++made > 2;
    if (z.settings.zone == "a.test." && !reloading) return std::make_unique<GatedBackend>(fake, running_a);
    if (z.settings.zone == "b.test." && reloading) return std::make_unique<GatedBackend>(fake, reload_b);
    return std::make_unique<GatedBackend>(fake, open);
  };
  const auto text = [&](const std::string& b_ttl, const std::string& extra) {
    return ".:" + p(dns) + " {\n bind 127.0.0.1\n wgsd a.test. wgref0 {\n  ns ns.example.\n  refresh 10ms\n }\n wgsd b.test. wgref0 {\n  ns ns.example.\n  refresh 10ms\n  ttl data " +
           b_ttl + "s\n }\n" + extra + "}\n";
  };
  server::Server server(server::parse_config(text("30", ""), "Corefile"), factory, log);
  server.start();
  REQUIRE(server.stats().not_ready().empty());

  // The reload keeps both zones (b.test. with a new ttl is read again first) and adds `ready`.
  reload_b.set(true);
  std::thread reload([&] { server.reload(server::parse_config(text("60", " ready 127.0.0.1:" + p(ready) + "\n"), "Corefile")); });
  REQUIRE(eventually([&] { return reload_b.held(); }, std::chrono::milliseconds(3000)));
  // Meanwhile the running refresher starts a read of a.test. that lasts: the reload will wait for it
  // before switching, with the new address already listening.
  running_a.set(true);
  const bool refresher_held = eventually([&] { return running_a.held(); }, std::chrono::milliseconds(3000));
  reload_b.set(false);
  HttpReply first;
  if (refresher_held) {
    for (int i = 0; i < 300 && first.status == 0; ++i) {
      first = curl(ready, "/ready");
      if (first.status == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  running_a.set(false);
  reload.join();
  REQUIRE(refresher_held);
  // Its first answer, while the reload waits: both zones are ready, as they were and will be.
  CHECK(first.status == 200);
  CHECK(first.body == "OK");
  const auto after = curl(ready, "/ready");
  CHECK(after.status == 200);
}
