// wgsd-client: sets the endpoints of a device's peers from a wgsd registry.
#include <CLI/CLI.hpp>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <sys/signalfd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <iostream>
#include <random>

#include "client/client.hpp"
#include "client/state_file.hpp"
#include "client/sync.hpp"
#include "client/sync_flags.hpp"
#include "client/select_flags.hpp"
#include "dns/wire.hpp"
#include "util/duration.hpp"
#include "util/sd_notify.hpp"
#include "dns/tsig_keyfile.hpp"
#include "wg/unique_fd.hpp"

namespace {

using namespace wgsd;

// jwhited/wgsd's client takes Go-style flags: -device=wg0, -dns=IP:PORT, -zone=ZONE. Accept them
// unchanged by turning them into the long options they mean.
std::vector<std::string> normalise_args(int argc, char** argv) {
  std::vector<std::string> out;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    for (const char* name : {"device", "dns", "zone"}) {
      const std::string single = std::string("-") + name;
      if (a == single || a.rfind(single + "=", 0) == 0) a = "-" + a;
    }
    out.push_back(a);
  }
  std::reverse(out.begin(), out.end());  // CLI11 takes a reversed vector
  return out;
}

std::chrono::nanoseconds duration_option(const std::string& text, const char* flag) {
  auto d = util::parse_duration(text);
  if (!d) throw CLI::ValidationError(flag, "expected a duration such as 30s, 500ms or 5m, got '" + text + "'");
  return *d;
}

// A duration within [low, high]; `range` says so in words.
std::chrono::nanoseconds bounded_duration(const std::string& text, const char* flag, std::chrono::nanoseconds low,
                                          std::chrono::nanoseconds high, const char* range) {
  auto d = util::parse_duration(text);
  if (!d || *d < low || *d > high) throw CLI::ValidationError(flag, std::string("expected a duration from ") + range + ", got '" + text + "'");
  return *d;
}

constexpr unsigned max_concurrency = 4096;
constexpr unsigned max_retries = 10;

unsigned number_option(const std::string& text, const char* flag, unsigned low, unsigned high) {
  unsigned n = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || ptr != text.data() + text.size() || n < low || n > high) {
    throw CLI::ValidationError(flag, "expected a number from " + std::to_string(low) + " to " + std::to_string(high) + ", got '" + text + "'");
  }
  return n;
}

// Waits up to `wait` for SIGTERM/SIGINT on `signal_fd`; true if one came (it is left pending).
// -y [ALG:]NAME:SECRET, as dig takes it; without ALG, hmac-sha256. The secret is never echoed.
wgsd::dns::tsig::Key key_from_y(const std::string& text) {
  const auto last = text.rfind(':');
  if (last == std::string::npos || last == 0) throw CLI::ValidationError("-y", "expected [ALG:]NAME:SECRET");
  const std::string head = text.substr(0, last);
  const auto first = head.find(':');
  const std::string alg = first == std::string::npos ? "hmac-sha256" : head.substr(0, first);
  const std::string name = first == std::string::npos ? head : head.substr(first + 1);
  std::string error;
  auto key = wgsd::dns::tsig::make_key(name, alg, text.substr(last + 1), error);
  if (!key) throw CLI::ValidationError("-y", error);
  return std::move(*key);
}

bool signalled(int signal_fd, std::chrono::milliseconds wait) {
  const auto end = std::chrono::steady_clock::now() + wait;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now()).count();
    pollfd p{signal_fd, POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(std::clamp<long long>(left, 0, 60'000)));
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) return false;
    if (left <= 0) return false;
  }
}

int run(int argc, char** argv) {
  CLI::App app{"wgsd-client: sets WireGuard peer endpoints from a wgsd DNS-SD registry", "wgsd-client"};
  client::Options options;
  std::vector<std::string> dns_servers;
  std::vector<std::string> skip;
  std::string fresh = "180s";
  std::string timeout = "2s";
  std::string interval;
  std::string backend = "auto";
  std::string tsig_y;
  std::string tsig_k;
  std::string concurrency = std::to_string(options.concurrency);
  std::string retries = std::to_string(options.retries);
  app.add_option("--device", options.device, "WireGuard device whose peers to resolve")->required();
  app.add_option("--dns", dns_servers, "registry IP:PORT (repeatable; the freshest answer wins)")->required();
  app.add_option("--zone", options.zone, "zone the registry serves, e.g. example.com.")->required();
  app.add_option("--fresh", fresh, "leave peers with a handshake younger than this alone")->capture_default_str();
  app.add_flag("--force", options.force, "also update peers with a fresh handshake");
  app.add_option("--skip", skip, "base64 public key of a peer to leave alone (repeatable)");
  app.add_option("--timeout", timeout, "per-query timeout")->capture_default_str();
  app.add_option("--retries", retries, "further UDP attempts per query, 0-" + std::to_string(max_retries))->capture_default_str();
  app.add_option("--concurrency", concurrency, "DNS exchanges in flight at once, 1-4096 (one thread runs them all)")->capture_default_str();
  app.add_option("--interval", interval, "run as a daemon, one round per interval (with jitter)");
  app.add_flag("--dry-run", options.dry_run, "change nothing; print what would be done");
  app.add_flag("--json", options.json, "print one JSON report per round on stdout (with --sync, --roam and --select too)");
  app.add_option("--backend", backend, "auto, uapi or netlink")->capture_default_str();
  app.add_option("-y", tsig_y, "TSIG key [ALG:]NAME:SECRET, as dig takes it (hmac-sha256 or hmac-sha512)");
  app.add_option("-k", tsig_k, "TSIG key file (BIND key block, as tsig-keygen writes it)");
  client::SyncFlags sync_flags;
  client::add_sync_flags(app, sync_flags);
  client::RoamFlags roam_flags;
  client::add_roam_flags(app, roam_flags);
  client::SelectFlags select_flags;
  client::add_select_flags(app, select_flags);
  app.set_version_flag("-v,--version", std::string("wgsd-client ") + WGSD_VERSION, "print the version and exit");

  std::chrono::nanoseconds every{0};
  std::optional<client::SyncOptions> sync;
  client::SyncState sync_state;
  std::optional<client::RoamOptions> roam;
  std::optional<client::SelectOptions> select;
  client::RoamState roam_state;
  wg::UniqueFd sync_lock;
  wg::UniqueFd roam_lock;
  wg::UniqueFd backbone_lock;
  try {
    app.parse(normalise_args(argc, argv));
    if (!tsig_y.empty() && !tsig_k.empty()) throw CLI::ValidationError("-y/-k", "give one TSIG key, with -y or with -k, not both");
    if (!tsig_y.empty()) options.tsig = key_from_y(tsig_y);
    if (!tsig_k.empty()) {
      try {
        auto keys = dns::tsig::read_key_file(tsig_k);
        options.tsig = std::move(keys.front());
      } catch (const dns::tsig::KeyFileError& e) {
        throw CLI::ValidationError("-k", e.what());
      }
    }
    for (const auto& d : dns_servers) {
      auto ep = wg::Endpoint::parse(d);
      if (!ep) {
        if (auto ip = wg::IpAddress::parse(d)) ep = wg::Endpoint{*ip, 53};
      }
      if (!ep) throw CLI::ValidationError("--dns", "expected IP:PORT, [IPv6]:PORT or IP, got '" + d + "'");
      options.registries.push_back(*ep);
    }
    auto zone = dns::normalize_zone(options.zone);
    if (!zone || *zone == ".") throw CLI::ValidationError("--zone", "not a valid zone name: '" + options.zone + "'");
    options.zone = *zone;
    for (const auto& k : skip) {
      auto key = wg::Key::from_base64(k);
      if (!key) throw CLI::ValidationError("--skip", "expected a base64 public key, got '" + k + "'");
      options.skip.push_back(*key);
    }
    options.fresh = std::chrono::duration_cast<std::chrono::seconds>(duration_option(fresh, "--fresh"));
    options.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
        bounded_duration(timeout, "--timeout", std::chrono::milliseconds(1), std::chrono::seconds(60), "1ms to 60s"));
    options.retries = number_option(retries, "--retries", 0, max_retries);
    if (!interval.empty()) every = bounded_duration(interval, "--interval", std::chrono::seconds(1), std::chrono::hours(24), "1s to 24h");
    options.concurrency = number_option(concurrency, "--concurrency", 1, max_concurrency);
    if (!wg::parse_backend_kind(backend)) throw CLI::ValidationError("--backend", "expected auto, uapi or netlink, got '" + backend + "'");
    wg::check_device_name(options.device);
    select = client::select_options(select_flags, sync_flags, roam_flags.roam, options);
    sync = client::sync_options(sync_flags, options, roam_flags.roam);
    if (sync) sync->min_confirm = std::max<std::chrono::seconds>(std::chrono::seconds(10), std::chrono::duration_cast<std::chrono::seconds>(every));
    if (sync && !options.dry_run) sync_lock = client::SyncState::lock(sync->state_file);
    if (sync) sync_state = client::SyncState::load(sync->state_file);
    roam = client::roam_options(roam_flags, sync.has_value(), options, sync_flags.insecure, sync_flags.state);
    // What an earlier run placed (and a crash may have left) is reclaimed by the first round.
    if (roam && !options.dry_run) roam_lock = client::lock_state_file(roam->state_file, "wgsd-client --roam");
    if (roam && !options.dry_run) backbone_lock = client::lock_roam_backbone(roam->backbone);
    if (roam) roam_state = client::load_roam_state(roam->state_file);
    if (roam && !options.tsig) {
      std::cerr << "wgsd-client: roam: without TSIG the other servers' clocks cannot be measured: --max-skew catches only "
                   "handshakes in the future\n";
    }
    if (roam && interval.empty()) {
      throw CLI::ValidationError("--roam", "needs --interval: it follows the clients round after round, and takes back what it routed when it stops");
    }
  } catch (const CLI::Success& e) {  // --help, --version
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "wgsd-client: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "wgsd-client: " << e.what() << "\n";
    return 1;
  }
  if (sodium_init() < 0) {
    std::cerr << "wgsd-client: libsodium failed to initialise\n";
    return 1;
  }
  auto wg_backend = wg::make_backend(*wg::parse_backend_kind(backend));

  // SIGTERM/SIGINT arrive on a signalfd that the lookups' event loop watches: a round in flight
  // ends at once, and no thread is needed (a hardened unit may allow very few).
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigprocmask(SIG_BLOCK, &signals, nullptr);
  wg::UniqueFd signal_fd(::signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!signal_fd) {
    std::cerr << "wgsd-client: signalfd: " << std::strerror(errno) << "\n";
    return 1;
  }

  if (select) {
    // A daemon until SIGTERM/SIGINT; the installed member stays installed when it stops, and is
    // recognised (from the state file) when it starts again.
    const int stop_fd = signal_fd.get();
    client::Selector selector(options, *select, *wg_backend,
                              [&](std::string& error) { return client::ask_pool(options, *select, stop_fd, error); },
                              (static_cast<std::uint64_t>(randombytes_random()) << 32) | randombytes_random());
    for (;;) {
      const auto now = std::chrono::steady_clock::now();
      const auto wake = selector.step(now, wg::Clock::now(), std::cerr);
      if (options.json) selector.print_json(std::cout, std::chrono::steady_clock::now());
      std::cout.flush();
      const auto wait = std::chrono::ceil<std::chrono::milliseconds>(wake - std::chrono::steady_clock::now());
      if (signalled(signal_fd.get(), std::max(wait, std::chrono::milliseconds(0)))) return 0;
    }
  }

  std::mt19937_64 rng(randombytes_random());
  const auto router = client::make_kernel_router();
  int code = 0;
  // Daemon mode under systemd (Type=notify): ready after the first round, its outcome as STATUS=,
  // STOPPING=1 on the way out. sd_notify does nothing without NOTIFY_SOCKET.
  const bool daemon = every.count() != 0;
  for (bool first = true;; first = false) {
    int sync_code = 0;
    std::optional<client::SyncReport> synced;
    if (sync) {  // first the listing's peers, then the ordinary round sets every peer's endpoint
      synced = client::sync_once(options, *sync, sync_state, *wg_backend, signal_fd.get());
      if (!options.dry_run) {
        try {
          sync_state.save(sync->state_file);
        } catch (const std::exception& e) {
          synced->state_failed = true;
          synced->notes.push_back(e.what());
        }
      }
      client::print_sync_messages(*synced, options.dry_run, std::cerr);
      sync_code = synced->exit_code();
    }
    if (roam) {  // the client device's peers are clients to route, not peers to resolve
      const auto roamed = client::roam_once(options, *roam, roam_state, *wg_backend, *router, signal_fd.get());
      client::print_roam_messages(roamed, std::cerr);
      if (options.json) client::print_roam_json(roamed, options, *roam, std::cout);
      std::cout.flush();
      code = roamed.exit_code();
      if (every.count() == 0) return code;
      if (daemon) {
        std::size_t failed = 0;
        for (const auto& p : roamed.peers) failed += p.changed ? 0 : 1;
        const std::string status = options.device + ": roam, " + std::to_string(roamed.peers.size() - failed) +
                                   " moved, " + std::to_string(failed) + " failed" + (roamed.device_failed ? ", device failed" : "");
        util::sd_notify((first ? "READY=1\nSTATUS=" : "STATUS=") + status);
      }
      if (signalled(signal_fd.get(), std::chrono::duration_cast<std::chrono::milliseconds>(every))) {
        util::sd_notify("STOPPING=1");
        const auto undone = client::roam_undo(options, *roam, roam_state, *wg_backend, *router);
        client::print_roam_messages(undone, std::cerr);
        if (options.json) client::print_roam_json(undone, options, *roam, std::cout);
        std::cout.flush();
        return undone.exit_code();  // what could not be taken back stays on the backbone: not a clean stop
      }
      continue;
    }
    const auto report = client::run_once(options, *wg_backend, nullptr, signal_fd.get());
    // A signal during the round: what was done is reported (unfinished peers as stopped), and the
    // round's exit code stands.
    const bool stop = signalled(signal_fd.get(), std::chrono::milliseconds(0));
    client::print_messages(report, options.dry_run, std::cerr);
    if (options.json) client::print_json(report, options.dry_run, std::cout, synced ? &*synced : nullptr);
    std::cout.flush();
    code = std::max(report.exit_code(), sync_code);
    if (daemon) util::sd_notify((first ? "READY=1\nSTATUS=" : "STATUS=") + client::status_line(report));
    if (stop || !daemon) break;
    // ±10% jitter, so a fleet of clients started together does not ask in lockstep.
    std::uniform_real_distribution<double> jitter(0.9, 1.1);
    if (signalled(signal_fd.get(), std::chrono::duration_cast<std::chrono::milliseconds>(every * jitter(rng)))) {
      util::sd_notify("STOPPING=1");
      return 0;
    }
  }
  if (daemon) util::sd_notify("STOPPING=1");
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  // Nothing may end the process with an uncaught exception (abort, exit 134): whatever escapes is
  // reported, and the exit code says a round failed.
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "wgsd-client: " << e.what() << "\n";
  } catch (...) {
    std::cerr << "wgsd-client: unexpected error\n";
  }
  return 2;
}
