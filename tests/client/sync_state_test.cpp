// The state file of wgsd-client --sync: keys recorded before they reach the device, written whole
// under a name of its own, locked against a second client, and never read as a fresh state when it
// is empty, cut short or a directory.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>

#include "client/select_flags.hpp"
#include "client/sync.hpp"
#include "client/sync_flags.hpp"
#include "support/keys.hpp"
#include "support/lab.hpp"
#include "support/serving.hpp"

using namespace wgsd;
using namespace wgsd::test;
using namespace std::chrono_literals;

namespace {

// Forwards to a FakeBackend, and fails every apply after the first `good` ones.
struct FailingAfter : wg::Backend {
  FakeBackend& inner;
  unsigned good;
  unsigned applies{};
  FailingAfter(FakeBackend& b, unsigned n) : inner(b), good(n) {}
  wg::Device get_device(const std::string& n) override { return inner.get_device(n); }
  void apply(const wg::DeviceUpdate& u) override {
    if (++applies > good) throw wg::Error(std::errc::io_error, "the device went away");
    inner.apply(u);
  }
};

}  // namespace

TEST_CASE("sync state file: the keys are recorded before they are written, so a device failing mid-round leaves none unrecorded",
          "[client][sync]") {
  const unsigned n = 100;  // two device writes of 64 and 36 peers
  wg::Device master;
  master.name = "wgm3";
  master.public_key = key_n(100000);
  for (unsigned i = 1; i <= n; ++i) {
    wg::Peer p;
    p.public_key = key_n(i);
    p.allowed_ips = {*wg::Prefix::parse("10.8.0." + std::to_string(i) + "/32")};
    master.peers.push_back(p);
  }
  const auto port = free_port();
  Serving registry("example.com:" + std::to_string(port) + " {\n bind 127.0.0.1\n wgsd example.com. wgm3 {\n  list-all\n  ns ns.example.\n }\n}\n", {master});
  FakeBackend device;
  wg::Device d;
  d.name = "wgc3";
  d.public_key = key_n(200000);
  device.put(d);
  FailingAfter failing(device, 1);
  TempDir dir;
  client::Options options;
  options.device = "wgc3";
  options.registries = {{*wg::IpAddress::parse("127.0.0.1"), port}};
  options.zone = "example.com.";
  client::SyncOptions sync;
  sync.allowed_within = {*wg::Prefix::parse("10.8.0.0/16")};
  sync.state_file = dir.path() + "/wgc3.sync";
  client::SyncState state;
  const auto r = client::sync_once(options, sync, state, failing);
  CHECK(r.exit_code() == 3);
  const auto on_device = device.get_device("wgc3").peers;
  REQUIRE(on_device.size() == 64);  // the first write went through, the second failed
  // Without the caller saving anything, the file names every peer the device got.
  const auto saved = client::SyncState::load(sync.state_file);
  for (const auto& p : on_device) CHECK(saved.added.count(p.public_key) == 1);
  // Nothing but the state file and no temporary file left beside it.
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) files.push_back(e.path().filename().string());
  CHECK(files == std::vector<std::string>{"wgc3.sync"});
}

TEST_CASE("sync state file: empty, cut short or a directory is an error naming it, not a fresh state", "[client][sync]") {
  TempDir dir;
  const std::string path = dir.path() + "/wg0.sync";
  client::SyncState s;
  s.added = {key_n(1), key_n(2)};
  s.save(path);
  CHECK(client::SyncState::load(path) == s);
  const auto text = sh_out("cat " + path);
  std::ofstream(path, std::ios::trunc) << text.substr(0, text.size() - 10);
  CHECK_THROWS_WITH(client::SyncState::load(path), Catch::Contains(path + ": is truncated"));
  std::ofstream(path, std::ios::trunc).flush();
  CHECK_THROWS_WITH(client::SyncState::load(path), Catch::Contains(path + ": is empty"));
  std::filesystem::remove(path);
  std::filesystem::create_directory(path);
  CHECK_THROWS_WITH(client::SyncState::load(path), Catch::Contains(path + ": is a directory"));
}

TEST_CASE("sync state file: a second client on the same file is refused while the first holds it", "[client][sync]") {
  TempDir dir;
  const std::string path = dir.path() + "/wg0.sync";
  {
    auto held = client::SyncState::lock(path);
    CHECK_THROWS_WITH(client::SyncState::lock(path), Catch::Contains(path + ": another wgsd-client --sync uses this state file"));
    // As a program: the same refusal, before it touches the device.
    std::string out;
    const int rc = sh(std::string(WGSD_CLIENT_BIN) + " --device wgc0 --dns 127.0.0.1:1 --zone example.com. --sync --insecure "
                      "--allowed-within 10.8.0.0/16 --state " + path + " >" + dir.path() + "/out 2>&1");
    out = sh_out("cat " + dir.path() + "/out");
    CHECK(rc == 1);
    CHECK_THAT(out, Catch::Contains("another wgsd-client --sync uses this state file"));
  }
  CHECK_NOTHROW(client::SyncState::lock(path));  // released with its holder
}

TEST_CASE("state files default to $STATE_DIRECTORY (systemd's: one per instance) and an explicit --state wins", "[client][sync]") {
  // The environment as the test found it comes back at the end.
  const char* before = std::getenv("STATE_DIRECTORY");
  const std::optional<std::string> saved = before != nullptr ? std::optional<std::string>(before) : std::nullopt;
  struct Restore {
    const std::optional<std::string>& value;
    ~Restore() {
      if (value) ::setenv("STATE_DIRECTORY", value->c_str(), 1);
      else ::unsetenv("STATE_DIRECTORY");
    }
  } restore{saved};

  client::Options options;
  options.device = "wg0";
  client::SyncFlags sync;
  sync.sync = true;
  sync.allowed_within = {"10.8.0.0/16"};
  sync.insecure = true;

  ::unsetenv("STATE_DIRECTORY");
  CHECK(client::default_state_dir() == "/var/lib/wgsd-client");
  CHECK(client::sync_options(sync, options)->state_file == "/var/lib/wgsd-client/wg0.sync");

  // StateDirectory=wgsd-client/%i: systemd sets the instance's own directory.
  ::setenv("STATE_DIRECTORY", "/var/lib/wgsd-client/wg0", 1);
  CHECK(client::default_state_file("wg0") == "/var/lib/wgsd-client/wg0/wg0.sync");
  CHECK(client::sync_options(sync, options)->state_file == "/var/lib/wgsd-client/wg0/wg0.sync");
  client::SelectFlags select;
  select.pool = "vpn";
  client::SyncFlags shared;
  CHECK(client::select_options(select, shared, false, options)->state_file == "/var/lib/wgsd-client/wg0/wg0.select");
  // Several directories (colon-separated): the first.
  ::setenv("STATE_DIRECTORY", "/var/lib/a:/var/lib/b", 1);
  CHECK(client::default_state_file("wg1") == "/var/lib/a/wg1.sync");
  // Set but empty: the default.
  ::setenv("STATE_DIRECTORY", "", 1);
  CHECK(client::default_state_dir() == "/var/lib/wgsd-client");

  // An explicit --state wins over the environment, for --sync and --select alike.
  ::setenv("STATE_DIRECTORY", "/var/lib/wgsd-client/wg0", 1);
  sync.state = "/srv/peers.sync";
  CHECK(client::sync_options(sync, options)->state_file == "/srv/peers.sync");
  shared.state = "/srv/member";
  CHECK(client::select_options(select, shared, false, options)->state_file == "/srv/member");
}
