// Does one part of a refresh once a second, as a separate process, so that bench/interference.sh
// can measure what each part does to the latency of a wgsd-server that is not refreshing.
//
// usage: wgsd-interference ACTION DEVICE [once|thread]
//   drain       read the device's whole UAPI reply in 64 KiB pieces, keeping none of it
//   read        read the whole reply into memory (as a reader that parses afterwards would)
//   parse       parse a reply read once at start, from memory (no I/O)
//   burn        65 ms of arithmetic (no I/O, no memory)
//   read+burn   read, then burn
//   read+parse  read, then parse what was read (what a refresh does, minus the digest)
// With `once`, does the action once and exits (a new process each time, as wg(8) is); with
// `thread`, does each action on a new thread.
// Prints the time each action took on stderr. Only for benchmarks.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>

#include "wg/backend.hpp"
#include "wg/uapi_codec.hpp"

namespace {

using Clock = std::chrono::steady_clock;

// The reply to get=1, read in 64 KiB pieces as wgsd-server reads it, until the blank line that ends
// it; kept whole unless `keep` is false (then only its last piece, enough to see where it ends).
std::string read_reply(const std::string& device, bool keep = true) {
  const std::string path = std::string(wgsd::wg::default_uapi_dir) + "/" + device + ".sock";
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path) throw std::runtime_error("socket path too long: " + path);
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    throw std::runtime_error("connect " + path + ": " + std::strerror(errno));
  }
  std::string reply;
  if (::send(fd, "get=1\n\n", 7, MSG_NOSIGNAL) == 7) {
    char buf[65536];
    for (;;) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      if (!keep && reply.size() > 1) reply.erase(0, reply.size() - 1);
      const std::size_t from = reply.empty() ? 0 : reply.size() - 1;
      reply.append(buf, static_cast<std::size_t>(n));
      if (reply.find("\n\n", from) != std::string::npos) break;
    }
  }
  ::close(fd);
  return reply;
}

volatile std::uint64_t sink;

void burn(std::chrono::milliseconds length) {
  const auto end = Clock::now() + length;
  std::uint64_t x = 1;
  while (Clock::now() < end) {
    for (int i = 0; i < 1000; ++i) x = x * 6364136223846793005ULL + 1;
  }
  sink = x;
}

void parse(const std::string& reply, const std::string& device) {
  sink = wgsd::wg::parse_uapi_get(reply, device).peers.size();
}

}  // namespace

int main(int argc, char** argv) {
  const std::string how = argc == 4 ? argv[3] : "";
  if (argc != 3 && !(argc == 4 && (how == "once" || how == "thread"))) {
    std::fprintf(stderr, "usage: wgsd-interference drain|read|parse|burn|read+burn|read+parse DEVICE [once|thread]\n");
    return 2;
  }
  const std::string action = argv[1];
  const std::string device = argv[2];
  if (action != "drain" && action != "read" && action != "parse" && action != "burn" && action != "read+burn" && action != "read+parse") {
    std::fprintf(stderr, "wgsd-interference: unknown action '%s'\n", action.c_str());
    return 2;
  }
  try {
    const std::string stored = action == "parse" ? read_reply(device) : std::string();
    auto act = [&] {
      if (action == "drain") sink = read_reply(device, false).size();
      else if (action == "read") sink = read_reply(device).size();
      else if (action == "parse") parse(stored, device);
      else if (action == "burn") burn(std::chrono::milliseconds(65));
      else if (action == "read+burn") {
        sink = read_reply(device).size();
        burn(std::chrono::milliseconds(65));
      } else parse(read_reply(device), device);
    };
    for (;;) {
      const auto start = Clock::now();
      if (how == "thread") std::thread(act).join();
      else act();
      std::fprintf(stderr, "%s %.1f ms\n", action.c_str(), std::chrono::duration<double, std::milli>(Clock::now() - start).count());
      if (how == "once") return 0;
      std::this_thread::sleep_until(start + std::chrono::seconds(1));
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "wgsd-interference: %s\n", e.what());
    return 1;
  }
}
