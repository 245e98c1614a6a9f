// The kernel routes of --roam in a namespace of the test's own: a route an operator made for a
// prefix is never replaced or deleted, whatever --roam adds, moves or takes back.
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client/roam.hpp"
#include "support/lab.hpp"

using namespace wgsd;
using namespace wgsd::test;

namespace {

// Runs `body` in a child process that entered `ns`; its exit code (0: fine), or what failed.
int in_namespace(const Netns& ns, const std::function<int()>& body) {
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const int fd = ::open(("/var/run/netns/" + ns.name()).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) ::_exit(90);
    int rc = 91;
    try {
      rc = body();
    } catch (...) {
    }
    ::_exit(rc);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 99;
}

}  // namespace

TEST_CASE("roam routes: an operator's route for the prefix stays through an add, a move and the exit, and is never listed as wgsd's", "[client][roam][route][live]") {
  require_live({"ip"});
  Netns ns;
  const std::string op = unique_name("rto"), bb = unique_name("rtb");
  REQUIRE(ns.exec("ip link add " + op + " type veth peer name " + bb) == 0);
  REQUIRE(ns.exec("ip link set " + op + " up") == 0);
  REQUIRE(ns.exec("ip link set " + bb + " up") == 0);
  REQUIRE(ns.exec("ip route add 10.77.0.0/24 dev " + op) == 0);
  const auto taken = *wg::Prefix::parse("10.77.0.0/24");
  const auto free = *wg::Prefix::parse("10.78.0.0/24");
  const int rc = in_namespace(ns, [&] {
    auto router = client::make_kernel_router();
    try {
      router->add(bb, taken);
      return 1;  // replaced or added beside the operator's route
    } catch (const std::exception& e) {
      if (std::string(e.what()).find("a route to 10.77.0.0/24 already exists that wgsd did not add") == std::string::npos) return 2;
    }
    router->add(bb, free);
    router->add(bb, free);  // ours already: made anew (a restart, a move between backbone peers)
    // Only wgsd's routes through the device are listed: not the operator's, not another device's.
    if (router->list(bb) != std::vector<wg::Prefix>{free} || !router->list(op).empty()) return 3;
    router->remove(bb, taken);  // taking back what it meant to add: the operator's is not matched
    router->remove(op, taken);  // nor on the operator's own device
    return 0;
  });
  CHECK(rc == 0);
  CHECK(ns.exec_out("ip route show 10.77.0.0/24") == "10.77.0.0/24 dev " + op + " scope link \n");
  CHECK(ns.exec_out("ip route show proto 0x77") == "10.78.0.0/24 dev " + bb + " scope link \n");
  REQUIRE(in_namespace(ns, [&] {
    client::make_kernel_router()->remove(bb, free);
    return 0;
  }) == 0);
  CHECK(ns.exec_out("ip route show proto 0x77").empty());
  CHECK(ns.exec_out("ip route show 10.77.0.0/24") == "10.77.0.0/24 dev " + op + " scope link \n");
}
