// wgsd-client --roam and the backbone as it really is: an update the device took in part is
// recorded as far as it got, what an operator changed while a round was asking is kept, only the
// routes it recorded are ever deleted, and a client it refuses loses its old placement.
#include <catch2/catch.hpp>

#include <functional>

#include "client/roam_case.hpp"
#include "client/state_file.hpp"

using namespace wgsd;
using namespace wgsd::test;

namespace {

// A backend that lets something happen (an operator's `wg set`) just after the round first reads
// the backbone, while it is asking the registries.
struct Meddled final : wg::Backend {
  FakeBackend& inner;
  std::function<void()> meddle;
  explicit Meddled(FakeBackend& b) : inner(b) {}
  wg::Device get_device(const std::string& name) override {
    auto d = inner.get_device(name);
    if (name == "wgb0" && meddle) std::exchange(meddle, nullptr)();
    return d;
  }
  void apply(const wg::DeviceUpdate& update) override { inner.apply(update); }
};

void give(FakeBackend& b, const wg::Key& k, const char* prefix) {
  auto d = b.get_device("wgb0");
  for (auto& p : d.peers) {
    if (p.public_key == k) p.allowed_ips.push_back(*wg::Prefix::parse(prefix));
  }
  b.put(d);
}

bool holds(const Strings& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }

}  // namespace

TEST_CASE("roam: an update the backbone took in part is recorded as far as it got", "[client][roam]") {
  RoamCase c;
  c.r2.set(1, now() - 1);
  c.r3.set(2, now() - 1);
  c.backend.fail_next_apply_after(1, std::errc::no_buffer_space);
  const auto r = c.round();
  CHECK(r.exit_code() == 3);
  // One of the two servers' peers got its client's address: that one is ours, and recorded.
  const bool at2 = holds(c.allowed_of(server2), "10.100.0.1/32");
  const bool at3 = holds(c.allowed_of(server3), "10.100.0.2/32");
  REQUIRE(at2 != at3);
  const auto written = at2 ? key_n(1) : key_n(2);
  REQUIRE(c.state.count(written) == 1);
  CHECK(c.state[written].via == (at2 ? server2 : server3));
  CHECK(c.state[written].prefixes == std::vector<wg::Prefix>{*wg::Prefix::parse(at2 ? "10.100.0.1/32" : "10.100.0.2/32")});
  // What it wrote is taken back when it stops, though the round that wrote it failed.
  client::roam_undo(c.options, c.roam, c.state, c.backend, c.router);
  CHECK(c.allowed_of(server2) == Strings{"127.0.0.2/32"});
  CHECK(c.allowed_of(server3) == Strings{"127.0.0.3/32", "192.0.2.128/25"});
}

TEST_CASE("roam: a partial update whose backbone cannot be read again records all it may have written", "[client][roam]") {
  RoamCase c;
  c.r2.set(1, now() - 1);
  c.r3.set(2, now() - 1);
  struct Blind final : wg::Backend {  // the backbone cannot be read once an update failed
    FakeBackend& inner;
    bool failed{};
    explicit Blind(FakeBackend& b) : inner(b) {}
    wg::Device get_device(const std::string& name) override {
      if (failed) throw wg::Error(std::errc::no_such_device, "no such device '" + name + "'");
      return inner.get_device(name);
    }
    void apply(const wg::DeviceUpdate& update) override {
      try {
        inner.apply(update);
      } catch (...) {
        failed = true;
        throw;
      }
    }
  } blind(c.backend);
  c.backend.fail_next_apply_after(1, std::errc::no_buffer_space);
  const auto r = client::roam_once(c.options, c.roam, c.state, blind, c.router);
  CHECK(r.exit_code() == 3);
  REQUIRE(c.state.count(key_n(1)) == 1);
  REQUIRE(c.state.count(key_n(2)) == 1);
  CHECK(c.state[key_n(1)].via == server2);
  CHECK(c.state[key_n(2)].via == server3);
}

TEST_CASE("roam: what an operator gives a backbone peer while a round asks the registries is kept", "[client][roam]") {
  RoamCase c;
  c.r2.set(1, now() - 1);
  Meddled meddled(c.backend);
  meddled.meddle = [&] { give(c.backend, server2, "10.60.0.0/24"); };
  const auto r = client::roam_once(c.options, c.roam, c.state, meddled, c.router);
  CHECK(r.exit_code() == 0);
  CHECK(c.allowed_of(server2) == Strings{"127.0.0.2/32", "10.60.0.0/24", "10.100.0.1/32"});
}

TEST_CASE("roam: a route with wgsd's protocol that the state file does not record is left alone", "[client][roam]") {
  RoamCase c;
  c.router.routes = {{"10.70.0.0/24", "wgb0"}};  // another program's, or a run whose state file was lost
  c.r2.set(1, now() - 1);
  auto r = c.round();
  CHECK(c.router.routes == std::map<std::string, std::string>{{"10.70.0.0/24", "wgb0"}, {"10.100.0.1/32", "wgb0"}});
  bool noted = false;
  for (const auto& n : r.notes) noted = noted || n.find("route 10.70.0.0/24 dev wgb0 carries wgsd's protocol but the state file does not record it: left alone") != std::string::npos;
  CHECK(noted);
  client::roam_undo(c.options, c.roam, c.state, c.backend, c.router);
  CHECK(c.router.routes == std::map<std::string, std::string>{{"10.70.0.0/24", "wgb0"}});
}

TEST_CASE("roam: two --roam on one backbone refuse to run together", "[client][roam]") {
  TempDir dir;
  const auto held = client::lock_roam_backbone("wgb0", dir.path());
  CHECK_THROWS_WITH(client::lock_roam_backbone("wgb0", dir.path()),
                    Catch::Contains("another wgsd-client --roam uses the backbone 'wgb0'") && Catch::Contains(dir.path() + "/wgb0.roam.lock"));
  CHECK_NOTHROW(client::lock_roam_backbone("wgb1", dir.path()));
}

TEST_CASE("roam: a state file that cannot be written stops additions, not removals", "[client][roam]") {
  TempDir dir;
  RoamCase c;
  c.roam.state_file = dir.path() + "/wgc0.roam";
  c.r2.set(1, now() - 1);
  c.round();
  REQUIRE(c.allowed_of(server2) == Strings{"127.0.0.2/32", "10.100.0.1/32"});
  // The state file's directory becomes a file: nothing can be written there any more.
  sh("rm -rf " + dir.path() + "/sub && touch " + dir.path() + "/sub");
  c.roam.state_file = dir.path() + "/sub/wgc0.roam";
  c.local(1, now());      // client 1 came here: its placement is taken back
  c.r3.set(2, now() - 1);  // client 2 lives at server 3: not added, as it cannot be recorded first
  const auto r = c.round();
  CHECK(r.state_failed);
  CHECK(r.exit_code() == 3);
  CHECK(c.allowed_of(server2) == Strings{"127.0.0.2/32"});
  CHECK(c.router.routes.empty());
  CHECK(c.allowed_of(server3) == Strings{"127.0.0.3/32", "192.0.2.128/25"});
  CHECK(c.state.empty());
}

TEST_CASE("roam: a client refused for an overlap loses the placement it had", "[client][roam]") {
  RoamCase c;
  c.r2.set(1, now() - 1);
  c.round();
  REQUIRE(c.allowed_of(server2) == Strings{"127.0.0.2/32", "10.100.0.1/32"});
  auto d = c.backend.get_device("wgc0");
  d.peers[0].allowed_ips = {*wg::Prefix::parse("192.0.2.130/32")};  // now inside server 3's 192.0.2.128/25
  c.backend.put(d);
  const auto r = c.round();
  bool refused = false;
  for (const auto& p : r.peers) refused = refused || (p.public_key == key_n(1) && p.outcome == "refused");
  CHECK(refused);
  CHECK(c.allowed_of(server2) == Strings{"127.0.0.2/32"});
  CHECK(c.router.routes.empty());
  CHECK(c.state.empty());
}

TEST_CASE("roam: a recorded prefix is taken off only the backbone peer it was placed at", "[client][roam]") {
  RoamCase c;
  c.r2.set(1, now() - 1);
  c.round();
  REQUIRE(c.state.count(key_n(1)) == 1);
  // An operator moves the address to server 3 (WireGuard takes it off server 2), then client 1 comes here.
  wg::PeerUpdate moved{server3, true, std::nullopt};
  moved.allowed_ips = {*wg::Prefix::parse("127.0.0.3/32"), *wg::Prefix::parse("192.0.2.128/25"), *wg::Prefix::parse("10.100.0.1/32")};
  c.backend.apply({"wgb0", {moved}});
  REQUIRE(c.allowed_of(server2) == Strings{"127.0.0.2/32"});
  c.local(1, now());
  c.round();
  CHECK(c.allowed_of(server3) == Strings{"127.0.0.3/32", "192.0.2.128/25", "10.100.0.1/32"});
  CHECK(c.state.empty());
}
