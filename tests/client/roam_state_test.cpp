// wgsd-client --roam keeps its word about what it placed: recorded only once written, put back
// when someone takes it away, remembered across a crash in its state file and taken back by the
// next run, never this server's own addresses, and each round reported as one JSON document.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "client/roam_case.hpp"
#include "client/sync.hpp"

using namespace wgsd;
using namespace wgsd::test;

namespace {

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

// Takes `prefix` off backbone peer `k`, as an operator's `wg set` or a restart of the device would.
void take_away(RoamCase& c, const wg::Key& k, const std::string& prefix) {
  auto d = c.backend.get_device("wgb0");
  for (auto& p : d.peers) {
    if (p.public_key == k) std::erase(p.allowed_ips, *wg::Prefix::parse(prefix));
  }
  c.backend.put(d);
}

}  // namespace

TEST_CASE("roam: a placement is recorded only once the backbone took it, and a failed write is tried again", "[client][roam]") {
  RoamCase c;
  c.r2.set(1, now() - 1);
  c.backend.fail_next_apply(std::errc::resource_unavailable_try_again);
  auto r = c.round();
  CHECK(r.exit_code() == 3);
  CHECK_THAT(r.error, Catch::Contains("could not set the allowed IPs of the backbone 'wgb0'") && Catch::Contains("tried again next round"));
  CHECK(c.allowed_of(server2) == Strings{"127.0.0.2/32"});
  CHECK(c.state.empty());  // nothing was written: nothing is claimed
  r = c.round();
  CHECK(r.exit_code() == 0);
  CHECK(c.allowed_of(server2) == Strings{"127.0.0.2/32", "10.100.0.1/32"});
  CHECK(c.router.routes == std::map<std::string, std::string>{{"10.100.0.1/32", "wgb0"}});
  REQUIRE(c.state.count(key_n(1)) == 1);
  CHECK(c.state[key_n(1)].via == server2);
}

TEST_CASE("roam: a route that could not be added is added by the next round", "[client][roam]") {
  RoamCase c;
  c.r2.set(1, now() - 1);
  c.router.fail_add = "10.100.0.1/32";
  auto r = c.round();
  CHECK(r.exit_code() == 3);
  bool reported = false;
  for (const auto& p : r.peers) {
    if (p.public_key == key_n(1) && !p.changed) {
      reported = true;
      CHECK_THAT(p.message, Catch::Contains("route add failed") && Catch::Contains("tried again next round"));
      CHECK(p.outcome == "failed");
    }
  }
  CHECK(reported);
  CHECK(c.router.routes.empty());
  c.round();
  CHECK(c.router.routes == std::map<std::string, std::string>{{"10.100.0.1/32", "wgb0"}});
  CHECK(c.allowed_of(server2) == Strings{"127.0.0.2/32", "10.100.0.1/32"});
}

TEST_CASE("roam: each round puts back the allowed IPs and routes someone else took away", "[client][roam]") {
  RoamCase c;
  c.r2.set(1, now() - 1);
  c.round();
  REQUIRE(c.allowed_of(server2) == Strings{"127.0.0.2/32", "10.100.0.1/32"});
  take_away(c, server2, "10.100.0.1/32");
  c.router.routes.clear();
  const auto r = c.round();
  CHECK(r.exit_code() == 0);
  CHECK(c.allowed_of(server2) == Strings{"127.0.0.2/32", "10.100.0.1/32"});
  CHECK(c.router.routes == std::map<std::string, std::string>{{"10.100.0.1/32", "wgb0"}});
  REQUIRE(r.peers.size() == 1);
  CHECK(r.peers[0].outcome == "repaired");
  CHECK_THAT(r.peers[0].message, Catch::Contains("put back: 10.100.0.1/32 had gone from the allowed IPs of backbone peer " + server2.to_base64()) &&
                                     Catch::Contains("and the route 10.100.0.1/32 dev wgb0 had gone"));
  // Only the route gone: only the route comes back, and nothing is written to the device.
  c.router.routes.clear();
  const auto writes = c.backend.applied().size();
  c.round();
  CHECK(c.router.routes.size() == 1);
  CHECK(c.backend.applied().size() == writes);
}

TEST_CASE("roam: the state file outlives a crash, and the next run takes back only what wgsd added", "[client][roam]") {
  TempDir dir;
  const std::string path = dir.path() + "/wgc0.roam";
  {
    RoamCase c;
    c.roam.state_file = path;
    c.r2.set(1, now() - 1);
    c.round();
    CHECK_THAT(read(path), Catch::Contains("placed " + wg::Key(key_n(1)).to_base64() + " " + server2.to_base64() + " 10.100.0.1/32\n"));
  }  // killed: nothing is taken back
  RoamCase c;  // the next run, on the same backbone: what the first one left is there
  c.roam.state_file = path;
  auto bb = c.backend.get_device("wgb0");
  bb.peers[0].allowed_ips.push_back(*wg::Prefix::parse("10.100.0.1/32"));
  bb.peers[1].allowed_ips.push_back(*wg::Prefix::parse("10.50.0.0/24"));  // an operator's: not in the file
  c.backend.put(bb);
  c.router.routes = {{"10.100.0.1/32", "wgb0"}, {"10.100.0.9/32", "wgb0"}, {"10.100.0.7/32", "eth0"}};
  c.state = client::load_roam_state(path);
  REQUIRE(c.state.size() == 1);
  c.local(1, now());  // client 1 came here meanwhile
  const auto r = c.round();
  CHECK(c.allowed_of(server2) == Strings{"127.0.0.2/32"});
  CHECK(c.allowed_of(server3) == Strings{"127.0.0.3/32", "192.0.2.128/25", "10.50.0.0/24"});
  // Only the route the file records goes: one it does not record is not known to be wgsd's.
  CHECK(c.router.routes == std::map<std::string, std::string>{{"10.100.0.7/32", "eth0"}, {"10.100.0.9/32", "wgb0"}});
  bool noted = false;
  for (const auto& n : r.notes) noted = noted || n.find("route 10.100.0.9/32 dev wgb0 carries wgsd's protocol but the state file does not record it: left alone") != std::string::npos;
  CHECK(noted);
  CHECK(c.state.empty());
  CHECK(client::load_roam_state(path).empty());
}

TEST_CASE("roam: a damaged state file is refused, naming the file and line", "[client][roam]") {
  TempDir dir;
  const std::string path = dir.path() + "/wgc0.roam";
  CHECK(client::load_roam_state(path).empty());  // none yet
  write(path, "# header\nplaced " + wg::Key(key_n(1)).to_base64() + " " + server2.to_base64());
  CHECK_THROWS_WITH(client::load_roam_state(path), Catch::Contains(path + ": is truncated"));
  write(path, "# header\nplaced " + wg::Key(key_n(1)).to_base64() + " " + server2.to_base64() + " 10.100.0.300/32\n");
  CHECK_THROWS_WITH(client::load_roam_state(path), Catch::Contains(path + ":2: expected 'placed CLIENT-KEY VIA-KEY PREFIX[,PREFIX...]'"));
  client::RoamState s{{key_n(1), {server2, {*wg::Prefix::parse("10.100.0.1/32"), *wg::Prefix::parse("fd00::1/128")}}}};
  client::save_roam_state(s, path);
  CHECK(client::load_roam_state(path) == s);
}

TEST_CASE("roam: a client whose allowed IPs cover this server's own address is never routed via the backbone", "[client][roam]") {
  RoamCase c;
  c.router.own["wgc0"] = {*wg::IpAddress::parse("10.100.0.254")};
  c.router.own["wgb0"] = {*wg::IpAddress::parse("10.99.0.1")};
  auto d = c.backend.get_device("wgc0");
  d.peers.push_back(peer(key_n(4), {"10.100.0.0/24"}, now() - 100));
  d.peers.push_back(peer(key_n(5), {"10.99.0.0/16"}, now() - 100));
  c.backend.put(d);
  for (unsigned k : {1U, 4U, 5U}) c.r2.set(k, now() - 1);
  const auto r = c.round();
  CHECK(r.exit_code() == 2);
  std::map<std::string, std::string> refused;
  for (const auto& p : r.peers) {
    if (p.outcome == "refused") refused[p.public_key.to_base64()] = p.message;
  }
  REQUIRE(refused.size() == 2);
  CHECK_THAT(refused[wg::Key(key_n(4)).to_base64()],
             Catch::Contains("not routed via the backbone: its allowed IP 10.100.0.0/24 covers 10.100.0.254, an address of this server's own 'wgc0'"));
  CHECK_THAT(refused[wg::Key(key_n(5)).to_base64()], Catch::Contains("its allowed IP 10.99.0.0/16 covers 10.99.0.1, an address of this server's own 'wgb0'"));
  CHECK(c.allowed_of(server2) == Strings{"127.0.0.2/32", "10.100.0.1/32"});  // client 1 only
  CHECK(c.router.routes == std::map<std::string, std::string>{{"10.100.0.1/32", "wgb0"}});
}

TEST_CASE("roam --json: one JSON document per round, with what changed and why", "[client][roam]") {
  RoamCase c;
  c.r2.set(1, now() - 1);
  std::ostringstream out;
  client::print_roam_json(c.round(), c.options, c.roam, out);
  const std::string json = out.str();
  CHECK(std::count(json.begin(), json.end(), '\n') == 1);
  CHECK_THAT(json, Catch::StartsWith("{\"device\":\"wgc0\",\"backbone\":\"wgb0\",\"dry_run\":false,\"exit_code\":0,\"notes\":[],\"peers\":[{\"public_key\":\"" +
                                     wg::Key(key_n(1)).to_base64() + "\",\"outcome\":\"placed\",\"message\":\"lives at 127.0.0.2:"));
  out.str("");
  client::print_roam_json(c.round(), c.options, c.roam, out);
  CHECK(out.str() == "{\"device\":\"wgc0\",\"backbone\":\"wgb0\",\"dry_run\":false,\"exit_code\":0,\"notes\":[],\"peers\":[]}\n");
}

TEST_CASE("sync --json: the sync round joins the round's JSON document", "[client][sync]") {
  client::RunReport run;
  run.device = "wg0";
  client::SyncReport sync;
  sync.listed = 3;
  sync.notes = {"listing by PTR over TCP"};
  sync.peers = {{key_n(7), client::SyncOutcome::added, "added \"x\""}};
  std::ostringstream out;
  client::print_json(run, false, out, &sync);
  CHECK(out.str() == "{\"device\":\"wg0\",\"dry_run\":false,\"exit_code\":0,\"peers\":[],\"sync\":{\"exit_code\":0,\"listed\":3,"
                     "\"notes\":[\"listing by PTR over TCP\"],\"peers\":[{\"public_key\":\"" + wg::Key(key_n(7)).to_base64() +
                     "\",\"outcome\":\"added\",\"message\":\"added \\\"x\\\"\"}]}}\n");
}

TEST_CASE("wgsd-client --state works with --roam, and alone is refused", "[client][roam]") {
  TempDir dir;
  std::string out;
  const int rc = sh(std::string(WGSD_CLIENT_BIN) + " --device wgc0 --dns 127.0.0.1:1 --zone example.com. --state " + dir.path() + "/s >" +
                    dir.path() + "/out 2>&1");
  out = sh_out("cat " + dir.path() + "/out");
  CHECK(rc == 1);
  CHECK_THAT(out, Catch::Contains("--state: only works with --sync or --roam"));
}
