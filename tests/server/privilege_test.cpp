// Least privilege, read from outside: the user and the capabilities of every thread of a running
// wgsd-server in /proc/PID/status and /proc/PID/task/TID/status.
#include <catch2/catch.hpp>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "dns/names.hpp"
#include "support/dig.hpp"
#include "support/keys.hpp"
#include "support/lab.hpp"

using namespace wgsd;
using namespace wgsd::test;
using namespace std::chrono_literals;

namespace {

constexpr std::uint64_t dac_override = 1ULL << 1;
constexpr std::uint64_t net_bind_service = 1ULL << 10;
constexpr std::uint64_t net_admin = 1ULL << 12;

struct Status {
  std::string name;
  std::uint64_t eff{}, prm{}, inh{}, amb{};
  std::string uid, gid;  // "real effective saved fs"
};

std::string field(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0) return fold(line.substr(key.size() + 1));
  }
  return "";
}

Status status_of(const std::string& dir) {
  std::ifstream in(dir + "/status");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Status s;
  s.name = field(text, "Name");
  s.eff = std::stoull(field(text, "CapEff"), nullptr, 16);
  s.prm = std::stoull(field(text, "CapPrm"), nullptr, 16);
  s.inh = std::stoull(field(text, "CapInh"), nullptr, 16);
  s.amb = std::stoull(field(text, "CapAmb"), nullptr, 16);
  s.uid = field(text, "Uid");
  s.gid = field(text, "Gid");
  return s;
}

// Every thread of `pid` by TID; the main thread's TID is the PID.
std::map<pid_t, Status> threads_of(pid_t pid) {
  std::map<pid_t, Status> out;
  for (const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task")) {
    try {
      out[std::stoi(e.path().filename().string())] = status_of(e.path().string());
    } catch (const std::exception&) {
      // a thread that ended meanwhile
    }
  }
  return out;
}

std::string ids(unsigned id) {
  const std::string s = std::to_string(id);
  return s + " " + s + " " + s + " " + s;
}

std::string pubkey(const std::string& priv) {
  auto k = sh_out("echo " + priv + " | wg pubkey");
  k.pop_back();
  return k;
}

// The server's user reads its Corefile again on a reload: the scratch directory must let it.
void share(const TempDir& dir, const std::string& corefile) {
  ::chmod(dir.path().c_str(), 0755);
  ::chmod(corefile.c_str(), 0644);
}

// What every thread holds once the server answers: the main thread `main_prm` in its permitted set
// only, the reader exactly `reader` (effective and permitted), every other thread nothing: the
// HTTP daemon's thread (libmicrohttpd's, named MHD-... or wgsd-http) included.
void check_threads(pid_t pid, std::uint64_t main_prm, std::uint64_t reader, unsigned uid, unsigned gid) {
  // A thread that has just started carries the process's name and its creator's capabilities until
  // its first lines name it and drop them (the HTTP thread may start after DNS answers): wait,
  // bounded, until every thread has named itself. (Under ThreadSanitizer its own thread keeps the
  // name; the wait then runs out and that thread is left aside below.)
  auto threads = threads_of(pid);
  const auto unnamed = [&] {
    return std::any_of(threads.begin(), threads.end(), [&](const auto& t) { return t.first != pid && t.second.name == "wgsd-server"; });
  };
  for (int i = 0; i < 40 && unnamed(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    threads = threads_of(pid);
  }
  REQUIRE(threads.count(pid) == 1);
  CHECK(threads.at(pid).name == "wgsd-server");
  std::map<std::string, int> names;
  for (const auto& [tid, s] : threads) {
    INFO("thread " << tid << " " << s.name);
#if defined(__SANITIZE_THREAD__)
    // ThreadSanitizer's own background thread starts before main() with the process's name and
    // whatever it was started with; it is the runtime's, not wgsd's, and absent from real builds.
    if (tid != pid && s.name == "wgsd-server") continue;
#endif
    ++names[s.name];
    if (s.name.rfind("MHD", 0) == 0 || s.name == "wgsd-http") ++names["http"];
    CHECK(s.uid == ids(uid));
    CHECK(s.gid == ids(gid));
    CHECK(s.inh == 0);
    CHECK(s.amb == 0);
    if (tid == pid) {
      CHECK(s.eff == 0);
      CHECK(s.prm == main_prm);
    } else if (s.name == "wgsd-reader") {
      CHECK(s.eff == reader);
      CHECK(s.prm == reader);
    } else {
      CHECK(s.eff == 0);
      CHECK(s.prm == 0);
    }
  }
  CHECK(names["wgsd-reader"] == 1);
  CHECK(names["wgsd-tcp"] >= 1);
  CHECK(names["wgsd-udp"] >= 1);
  CHECK(names["wgsd-log"] == 1);
  CHECK(names["wgsd-xfrnotify"] == 1);  // NOTIFY to secondaries: nothing
  CHECK(names["http"] >= 1);
}

unsigned nobody_uid() { return ::getpwnam("nobody")->pw_uid; }
unsigned nogroup_gid() { return ::getgrnam("nogroup")->gr_gid; }

}  // namespace

TEST_CASE("wgsd-server --user nobody serves port 53 from a wireguard-go device with only CAP_DAC_OVERRIDE in its reader",
          "[server][privilege][live]") {
  require_live({"wireguard-go", "wg", "ip", "dig"});
  REQUIRE(::getpwnam("nobody") != nullptr);
  REQUIRE(::getgrnam("nogroup") != nullptr);
  Netns ns;
  WireguardGo wgo(ns, "wgp");
  TempDir dir;
  const std::string corefile = dir.path() + "/Corefile";
  const std::string log = dir.path() + "/server.log";
  std::ofstream(dir.path() + "/key") << genkey() << "\n";
  REQUIRE(ns.exec("wg set " + wgo.ifname() + " private-key " + dir.path() + "/key listen-port 51820") == 0);
  // wireguard-go's socket: owned by root, no access for anyone else.
  struct stat st{};
  REQUIRE(::stat(("/var/run/wireguard/" + wgo.ifname() + ".sock").c_str(), &st) == 0);
  CHECK(st.st_uid == 0);
  CHECK((st.st_mode & 0007) == 0);

  const std::string zone = "  wgsd example.com. " + wgo.ifname() + " {\n    refresh 100ms\n    ns ns1.example.com. 127.0.0.1\n  }\n";
  // HTTP on a port below 1024 too: bound before the switch to nobody.
  const std::string http = "  prometheus 127.0.0.1:9153\n  health 127.0.0.1:80\n";
  std::ofstream(corefile) << ".:53 {\n  bind 127.0.0.1\n" << zone << http << "}\n";
  share(dir, corefile);
  Process server(ns.wrap({WGSD_SERVER_BIN, "--conf", corefile, "--user", "nobody"}), log);
  const auto dig = [&](const std::string& args, int port = 53) {
    return test::dig(ns, "@127.0.0.1 -p " + std::to_string(port) + " +norec " + args);
  };
  if (!eventually([&] { return dig("example.com. SOA").status == "NOERROR"; }, 5000ms)) FAIL("no answer; log:\n" << sh_out("cat " + log));

  check_threads(server.pid(), net_bind_service | dac_override, dac_override, nobody_uid(), nogroup_gid());

  // The reader still reads the device: a peer added now is published.
  const std::string peer = pubkey(genkey());
  REQUIRE(ns.exec("wg set " + wgo.ifname() + " peer " + peer + " endpoint 198.51.100.7:40001 allowed-ips 10.0.0.1/32") == 0);
  const std::string name = dns::instance_name(key_from_b64(peer), "example.com.");
  CHECK(eventually([&] { return dig(name + " A").answer == std::vector<std::string>{name + " 0 IN A 198.51.100.7"}; }, 5000ms));

  CHECK(ns.exec("curl -sf -o /dev/null http://127.0.0.1:80/health") == 0);

  // A reload binds other ports below 1024, DNS and HTTP (CAP_NET_BIND_SERVICE raised around each bind).
  std::ofstream(corefile) << ".:53 {\n  bind 127.0.0.1\n" << zone << http << "}\n.:54 {\n  bind 127.0.0.1\n" << zone
                          << "  prometheus 127.0.0.1:81\n}\n";
  REQUIRE(::kill(server.pid(), SIGHUP) == 0);
  if (!eventually([&] { return dig(name + " A", 54).answer == std::vector<std::string>{name + " 0 IN A 198.51.100.7"}; }, 5000ms)) {
    FAIL("port 54 does not answer after the reload; log:\n" << sh_out("cat " + log));
  }
  CHECK(dig(name + " A").answer == std::vector<std::string>{name + " 0 IN A 198.51.100.7"});
  if (!eventually([&] { return ns.exec("curl -sf -o /dev/null http://127.0.0.1:81/metrics") == 0; }, 3000ms)) {
    FAIL("metrics on port 81 does not answer after the reload; log:\n" << sh_out("cat " + log));
  }
  check_threads(server.pid(), net_bind_service | dac_override, dac_override, nobody_uid(), nogroup_gid());
  CHECK(server.stop(SIGTERM) == 0);
}

TEST_CASE("wgsd-server started as nobody with ambient capabilities keeps CAP_NET_ADMIN in its netlink reader only",
          "[server][privilege][live]") {
  require_live({"ip", "dig", "setpriv"});
  Netns ns;
  TempDir dir;
  const std::string corefile = dir.path() + "/Corefile";
  const std::string log = dir.path() + "/server.log";
  const std::string device = unique_name("wgn");
  std::ofstream(corefile) << ".:53 {\n  bind 127.0.0.1\n  wgsd example.com. " << device << " {\n    backend netlink\n    ns ns1.example.com. 127.0.0.1\n  }\n"
                          << "  prometheus 127.0.0.1:9153\n  health 127.0.0.1:8080\n}\n";
  share(dir, corefile);
  // As systemd starts it with User=nobody and AmbientCapabilities=CAP_NET_BIND_SERVICE CAP_NET_ADMIN.
  Process server(ns.wrap({"setpriv", "--reuid=nobody", "--regid=nogroup", "--init-groups", "--inh-caps=+net_bind_service,+net_admin",
                          "--ambient-caps=+net_bind_service,+net_admin", WGSD_SERVER_BIN, "--conf", corefile}),
                 log);
  // No wireguard module here: the device cannot be read, and the zone answers SERVFAIL.
  if (!eventually([&] { return test::dig(ns, "@127.0.0.1 -p 53 +norec example.com. SOA").status == "SERVFAIL"; }, 5000ms)) {
    FAIL("no answer; log:\n" << sh_out("cat " + log));
  }
  CHECK(ns.exec("curl -sf -o /dev/null http://127.0.0.1:8080/health") == 0);
  check_threads(server.pid(), net_bind_service | net_admin, net_admin, nobody_uid(), nogroup_gid());
  CHECK_THAT(sh_out("cat " + log), !Catch::Contains("running as uid 0"));
  CHECK(server.stop(SIGTERM) == 0);
}

TEST_CASE("wgsd-server refuses to start without a capability its device needs, or as a user that does not exist", "[server][privilege]") {
  require_live({"setpriv"});
  TempDir dir;
  const std::string corefile = dir.path() + "/Corefile";
  const std::string device = unique_name("wgm");
  std::ofstream(corefile) << ".:" << free_port() << " {\n  bind 127.0.0.1\n  wgsd example.com. " << device
                          << " {\n    backend netlink\n    ns ns1.example.com. 127.0.0.1\n  }\n}\n";
  share(dir, corefile);
  // A server that starts anyway is stopped, and fails the exit status checks.
  const std::string bin = std::string("timeout 10 ") + WGSD_SERVER_BIN;
  const std::string err = " 2>" + dir.path() + "/err";
  const auto said = [&] { return sh_out("cat " + dir.path() + "/err"); };
  const std::string lacks = "device " + device + " is read over netlink, which needs CAP_NET_ADMIN; the process does not have it\n";

  // Root, but with CAP_NET_ADMIN out of its bounding set: not in its permitted set after exec.
  CHECK(sh("setpriv --bounding-set=-net_admin " + bin + " --conf " + corefile + " --user nobody" + err) == 1);
  CHECK(said() == "wgsd-server: --user nobody: " + lacks);
  // Started as nobody with CAP_NET_BIND_SERVICE alone.
  CHECK(sh("setpriv --reuid=nobody --regid=nogroup --init-groups --inh-caps=+net_bind_service --ambient-caps=+net_bind_service " + bin +
           " --conf " + corefile + err) == 1);
  CHECK(said() == "wgsd-server: " + lacks);
  // Switching users takes root.
  CHECK(sh("setpriv --reuid=nobody --regid=nogroup --init-groups " + bin + " --conf " + corefile + " --user root" + err) == 1);
  CHECK(said() == "wgsd-server: --user root: switching users needs root; the process runs as uid " + std::to_string(nobody_uid()) + "\n");
  // Names that do not exist.
  CHECK(sh(bin + " --conf " + corefile + " --user wgsd-no-such-user" + err) == 1);
  CHECK(said() == "wgsd-server: --user wgsd-no-such-user: no such user 'wgsd-no-such-user'\n");
  CHECK(sh(bin + " --conf " + corefile + " --user nobody:wgsd-no-such-group" + err) == 1);
  CHECK(said() == "wgsd-server: --user nobody:wgsd-no-such-group: no such group 'wgsd-no-such-group'\n");
  CHECK_THAT(sh_out(bin + " --help"), Catch::Contains("--user"));
  // A device that does not exist yet is no error: it may come as a kernel interface or a UAPI socket.
  std::ofstream(corefile) << ".:" << free_port() << " {\n  bind 127.0.0.1\n  wgsd example.com. " << device
                          << " {\n    ns ns1.example.com. 127.0.0.1\n  }\n}\n";
  Process server({"setpriv", "--reuid=nobody", "--regid=nogroup", "--init-groups", WGSD_SERVER_BIN, "--conf", corefile}, dir.path() + "/log");
  CHECK(eventually([&] { return sh("grep -qF \"no such device '" + device + "'\" " + dir.path() + "/log") == 0; }, 5000ms));
  CHECK(server.stop(SIGTERM) == 0);
}
