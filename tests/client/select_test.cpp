// --select over a fake device: which member it installs, when it gives up on one, what it leaves alone.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <set>
#include <sstream>

#include "client/select.hpp"
#include "support/fake_backend.hpp"
#include "support/keys.hpp"
#include "support/lab.hpp"

using namespace wgsd;
using namespace wgsd::test;
using namespace std::chrono_literals;

namespace {

wg::Peer peer_with_key(const wg::Key& k) {
  wg::Peer p;
  p.public_key = k;
  return p;
}

struct SelectCase {
  FakeBackend backend;
  TempDir dir;
  client::Options options;
  client::SelectOptions select;
  std::vector<client::PoolMember> members;
  std::chrono::steady_clock::time_point now{1000s};
  wg::Clock::time_point wall{1700000000s};
  std::ostringstream log;

  SelectCase() {
    wg::Device d;
    d.name = "wgsel0";
    d.peers.push_back(peer_with_key(key_n(100)));  // a peer of its own, never touched
    backend.put(d);
    options.device = "wgsel0";
    options.zone = "example.com.";
    select.pool = "vpn";
    select.check = 5s;
    select.state_file = dir.path() + "/wgsel0.select";
    for (unsigned i = 1; i <= 3; ++i) {
      members.push_back({key_n(i), *wg::Endpoint::parse("192.0.2." + std::to_string(i) + ":51820"), {*wg::Prefix::parse("10.90." + std::to_string(i) + ".0/24")}});
    }
  }
  client::Selector selector(std::uint64_t seed = 1) {
    return client::Selector(options, select, backend, [this](std::string&) { return members; }, seed);
  }
  wg::Device device() { return backend.get_device("wgsel0"); }
  wg::Peer* peer(const wg::Key& k, wg::Device& d) {
    auto it = std::find_if(d.peers.begin(), d.peers.end(), [&](const wg::Peer& p) { return p.public_key == k; });
    return it == d.peers.end() ? nullptr : &*it;
  }
  // The far side answers: a handshake now and some bytes.
  void handshake(const wg::Key& k, std::uint64_t rx) {
    auto d = device();
    peer(k, d)->last_handshake = wall;
    peer(k, d)->rx_bytes = rx;
    backend.put(d);
  }
  void advance(std::chrono::seconds s) {
    now += s;
    wall += s;
  }
};

}  // namespace

TEST_CASE("wgsd-client --select installs one member with its endpoint, allowed IPs and keepalive", "[client][select]") {
  SelectCase c;
  auto s = c.selector();
  s.step(c.now, c.wall, c.log);
  REQUIRE(s.installed());
  const auto d = c.device();
  REQUIRE(d.peers.size() == 2);
  const wg::Peer& p = d.peers[1];
  CHECK(p.public_key == *s.installed());
  const auto& m = *std::find_if(c.members.begin(), c.members.end(), [&](const auto& x) { return x.key == p.public_key; });
  CHECK(p.endpoint == m.endpoint);
  CHECK(p.allowed_ips == m.allowed);
  CHECK(p.persistent_keepalive == 25);
  CHECK(c.log.str().find("installed with endpoint " + m.endpoint.to_string()) != std::string::npos);
}

TEST_CASE("wgsd-client --select tries every member once before any twice, and removes each that does not come up", "[client][select]") {
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    SelectCase c;
    auto s = c.selector(seed);
    for (int i = 0; i < 9; ++i) {
      s.step(c.now, c.wall, c.log);  // installs one
      REQUIRE(c.device().peers.size() == 2);
      c.advance(5s);                  // no handshake within --check: removed, the next installed
    }
    const auto& h = s.history();
    REQUIRE(h.size() == 9);
    for (std::size_t cycle = 0; cycle < 3; ++cycle) {
      const std::set<wg::Key, decltype([](const wg::Key& a, const wg::Key& b) { return a.bytes() < b.bytes(); })> seen(h.begin() + 3 * cycle,
                                                                                                                        h.begin() + 3 * cycle + 3);
      CHECK(seen.size() == 3);
    }
    // Its own peer was never touched.
    CHECK(c.peer(key_n(100), *std::make_unique<wg::Device>(c.device())) != nullptr);
  }
}

TEST_CASE("wgsd-client --select keeps an established member and moves on when nothing arrives from it for 3 x --check, at least 15 s", "[client][select]") {
  SelectCase c;
  auto s = c.selector();
  s.step(c.now, c.wall, c.log);
  const wg::Key first = *s.installed();
  c.handshake(first, 92);
  c.advance(5s);
  s.step(c.now, c.wall, c.log);
  CHECK(s.established());
  CHECK(*s.installed() == first);
  // Bytes keep arriving: it stays, check after check.
  for (int i = 0; i < 5; ++i) {
    c.handshake(first, 92 + 32 * (i + 1));
    c.advance(5s);
    s.step(c.now, c.wall, c.log);
    CHECK(*s.installed() == first);
  }
  // Silence: the handshake is young, but after 15 s without a byte it is dead.
  c.advance(5s);
  s.step(c.now, c.wall, c.log);
  c.advance(5s);
  s.step(c.now, c.wall, c.log);
  CHECK(*s.installed() == first);
  c.advance(5s);
  s.step(c.now, c.wall, c.log);
  REQUIRE(s.installed());
  CHECK(*s.installed() != first);
  CHECK(c.log.str().find(first.to_base64() + ": nothing received for 15s; removed") != std::string::npos);
  CHECK(c.device().peers.size() == 2);
}

// Driven as the daemon drives it (each step at the time the previous one asked for): a live member
// is established as soon as its handshake is there, not a whole --check later; once it falls silent
// it is given up 15 s after its last byte (to the second, not to the next --check), and the next
// live member takes over. With --check 5s and 3 members that is within --check x (members + 1).
TEST_CASE("wgsd-client --select notices a handshake and a silence to the second, and fails over within --check x (members + 1)", "[client][select]") {
  SelectCase c;
  auto s = c.selector();
  const auto start = c.now;
  std::optional<wg::Key> first;
  std::optional<std::chrono::steady_clock::time_point> died, established_again;
  std::chrono::steady_clock::time_point last_byte{}, removed{};
  auto wake = s.step(c.now, c.wall, c.log);
  first = s.installed();
  REQUIRE(first);
  for (int i = 0; i < 200 && !established_again; ++i) {
    const auto step = wake - c.now;
    REQUIRE(step > 0s);
    REQUIRE(step <= 5s);
    // The world between two steps, at 100 ms resolution: every installed member handshakes at once
    // and sends 32 bytes every second (at .3 s), until the first one dies 12.3 s after it came.
    for (auto t = c.now; t < wake; t += 100ms) {
      auto d = c.device();
      for (auto& p : d.peers) {
        if (p.public_key == key_n(100)) continue;
        const bool dead = p.public_key == *first && t >= start + 12300ms;
        if (dead) continue;
        if (!p.last_handshake) p.last_handshake = c.wall + std::chrono::duration_cast<std::chrono::seconds>(t - c.now);
        if ((t - start) % 1s == 300ms) {
          p.rx_bytes += 32;
          if (p.public_key == *first) last_byte = t;
        }
      }
      c.backend.put(d);
    }
    c.wall += std::chrono::duration_cast<wg::Clock::duration>(wake - c.now);
    c.now = wake;
    const auto before = s.installed();
    wake = s.step(c.now, c.wall, c.log);
    if (s.installed() == first && s.established() && !died) {
      died = start + 12300ms;  // noted once it is up; it dies on its own schedule
      CHECK(c.now - start <= 1300ms);  // established within a second of its handshake, not after --check
    }
    if (before == first && s.installed() != first) removed = c.now;
    if (s.installed() && s.installed() != first && s.established()) established_again = c.now;
  }
  REQUIRE(died);
  REQUIRE(established_again);
  CAPTURE(c.log.str());
  // Not before 15 s of silence, and not more than a second after.
  CHECK(removed - last_byte >= 15s);
  CHECK(removed - last_byte <= 16s);
  CHECK(*established_again - *died <= 5s * (3 + 1));
}

TEST_CASE("wgsd-client --select prints each member's state as JSON", "[client][select]") {
  SelectCase c;
  auto s = c.selector();
  s.step(c.now, c.wall, c.log);
  const wg::Key k = *s.installed();
  c.handshake(k, 100);
  c.advance(5s);
  s.step(c.now, c.wall, c.log);
  std::ostringstream out;
  s.print_json(out, c.now + 7s);
  const std::string json = out.str();
  CHECK(json.find("\"" + k.to_base64() + "\":7") != std::string::npos);
  for (const auto& m : c.members) {
    if (m.key != k) CHECK(json.find("\"" + m.key.to_base64() + "\":false") != std::string::npos);
  }
}

TEST_CASE("wgsd-client --select survives its own restart: it finds the member it installed and removes only that", "[client][select]") {
  SelectCase c;
  wg::Key first;
  {
    auto s = c.selector();
    s.step(c.now, c.wall, c.log);
    first = *s.installed();
    c.handshake(first, 100);
  }
  // A member also configured by hand is never installed or removed.
  auto d = c.device();
  const wg::Key manual = first == c.members[0].key ? c.members[1].key : c.members[0].key;
  d.peers.push_back(peer_with_key(manual));
  c.backend.put(d);

  auto again = c.selector(7);
  c.advance(1s);
  again.step(c.now, c.wall, c.log);
  CHECK(again.installed() == first);  // taken over, not a second peer
  CHECK(again.established());
  CHECK(c.device().peers.size() == 3);
  // It dies (its handshake ages past --established): removed, and the next one is neither it nor the manual peer.
  c.advance(200s);
  again.step(c.now, c.wall, c.log);
  REQUIRE(again.installed());
  CHECK(*again.installed() != first);
  CHECK(*again.installed() != manual);
  auto after = c.device();
  CHECK(c.peer(first, after) == nullptr);
  CHECK(c.peer(manual, after) != nullptr);
  CHECK(c.peer(key_n(100), after) != nullptr);
}

TEST_CASE("wgsd-client --select flags: bad values are refused with exit code 1, naming the flag", "[client][select]") {
  const std::string client = std::string(WGSD_CLIENT_BIN) + " --device wgsel0 --dns 127.0.0.1:5999 --zone example.com. ";
  const std::string file = "/tmp/wgsd-select-flags-" + std::to_string(::getpid()) + ".out";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--check 2s", "wgsd-client: --check: only works with --select"},
      {"--select vpn --check 500ms", "wgsd-client: --check: expected a duration from 1s to 1h, got '500ms'"},
      {"--select vpn.example.com. ", "wgsd-client: --select: expected a pool name relative to the zone such as vpn, got 'vpn.example.com.'"},
      {"--select vpn --sync --insecure --allowed-within 10.0.0.0/8", "wgsd-client: --select: cannot be combined with --sync"},
      {"--select vpn --keepalive 0", "wgsd-client: --keepalive: expected whole seconds from 1 to 65535, got '0'"},
      {"--select vpn --roam --backbone wgsel1", "wgsd-client: --select: cannot be combined with --roam"},
      {"--established 1m", "wgsd-client: --established: only works with --select"},
  };
  for (const auto& [args, message] : cases) {
    CHECK(sh(client + args + " >" + file + " 2>&1") == 1);
    const std::string out = sh_out("cat " + file);
    CAPTURE(out);
    CHECK(out.find(message) != std::string::npos);
  }
  std::remove(file.c_str());
}
