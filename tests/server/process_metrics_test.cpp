// process_* metrics as the shipped unit sees /proc: with ProcSubset=pid, /proc/stat (and its boot
// time) is hidden, and the process start time must still be the real one.
#include <catch2/catch.hpp>
#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <sstream>
#include <string>

#include "server/ops_pages.hpp"
#include "support/prom_sample.hpp"

using namespace wgsd::server;
using wgsd::test::prom_sample;

TEST_CASE("process_start_time_seconds is the real start time, also where /proc/stat is hidden", "[server][http][metrics]") {
  const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  std::string out;
  ops::render_process_metrics(out);
  const double start = prom_sample(out, "process_start_time_seconds");
  // This test process started within the last day, and not in the future.
  CHECK(start > now - 86400);
  CHECK(start <= now + 1);

  if (::geteuid() != 0) {
    WARN("not root: the case of a /proc mounted with subset=pid (the unit's ProcSubset=pid) is not run");
    return;
  }
  // A child in its own mount namespace with /proc mounted as the unit mounts it renders the same.
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::close(fds[0]);
    if (::unshare(CLONE_NEWNS) != 0 || ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        ::mount("proc", "/proc", "proc", 0, "subset=pid") != 0 || ::access("/proc/stat", F_OK) == 0) {
      ::_exit(2);
    }
    std::string text;
    ops::render_process_metrics(text);
    const std::string v = std::to_string(prom_sample(text, "process_start_time_seconds"));
    (void)!::write(fds[1], v.data(), v.size());
    ::_exit(0);
  }
  ::close(fds[1]);
  char buf[64] = {};
  const auto n = ::read(fds[0], buf, sizeof buf - 1);
  ::close(fds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  REQUIRE(n > 0);
  const double hidden = std::stod(std::string(buf, static_cast<std::size_t>(n)));
  INFO("start time with /proc/stat hidden: " << hidden << ", now " << now);
  CHECK(hidden > now - 86400);
  CHECK(hidden <= now + 1);
}
