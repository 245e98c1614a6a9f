// wgsd-server: authoritative DNS-SD for the peers of WireGuard devices.
#include <CLI/CLI.hpp>
#include <signal.h>
#include <sodium.h>

#include <unistd.h>

#include <cerrno>
#include <iostream>
#include <optional>

#include "server/config.hpp"
#include "server/memory.hpp"
#include "server/notify.hpp"
#include "server/privilege.hpp"
#include "server/reload.hpp"
#include "server/server.hpp"
#include "util/duration.hpp"

int main(int argc, char** argv) {
  wgsd::server::limit_allocator_retention();
  CLI::App app{"wgsd-server: publishes the endpoints of WireGuard peers as DNS-SD records"};
  std::string conf = "Corefile";
  bool check = false;
  wgsd::server::ServerLimits limits;
  std::string idle = "10s";
  app.add_option("-c,--conf", conf, "Corefile to load")->capture_default_str();
  app.add_flag("--check", check, "validate the Corefile, print OK and exit 0, or print the error and exit 1");
  app.add_option("--workers", limits.udp_workers, "UDP worker threads (default: one per CPU of the affinity mask, capped by the cgroup CPU quota)");
  app.add_option("--max-tcp-connections", limits.max_tcp_connections, "TCP connections per port (per address when blocks bind different ones); past it the longest-idle is closed")
      ->capture_default_str()->check(CLI::Range(1, 1000000));
  app.add_option("--tcp-idle-timeout", idle, "close a TCP connection idle this long")->capture_default_str();
  app.add_option("--max-peers", limits.max_peers, "refuse a device read with more peers (the last good data stays)")
      ->capture_default_str()->check(CLI::Range(1, 100000000));
  std::string user_spec;
  app.add_option("--user", user_spec,
                 "NAME[:GROUP]: started as root, switch to this user (and its group, or GROUP) once every socket is bound, keeping only "
                 "the capabilities reading the devices and binding need (see docs/privileges.md)");
  limits.state_dir = "/var/lib/wgsd";
  app.add_option("--state-dir", limits.state_dir, "where zones that secondaries transfer keep their last serial, so a restart never lowers it")
      ->capture_default_str();
  app.set_version_flag("-v,--version", std::string("wgsd-server ") + WGSD_VERSION, "print the version and exit");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 1;
  }
  if (sodium_init() < 0) {
    std::cerr << "wgsd-server: libsodium failed to initialise\n";
    return 1;
  }
  const auto idle_timeout = wgsd::util::parse_duration(idle);
  if (!idle_timeout || *idle_timeout < std::chrono::milliseconds(10)) {
    std::cerr << "wgsd-server: --tcp-idle-timeout: expected a duration of at least 10ms such as 10s, got '" << idle << "'\n";
    return 1;
  }
  limits.tcp_idle_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(*idle_timeout);

  wgsd::server::ServerConfig config;
  std::string text;
  try {
    text = wgsd::server::read_corefile(conf);
    config = wgsd::server::parse_config(text, conf);
  } catch (const wgsd::server::ConfigError& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  if (check) {
    std::cout << "OK\n";
    return 0;
  }

  // Who the server will run as, and what it keeps: a device it could not read then is said now.
  namespace privilege = wgsd::server::privilege;
  std::optional<privilege::User> user;
  privilege::Caps keep = 0;
  try {
    if (!user_spec.empty()) {
      user = privilege::resolve_user(user_spec);
      if (::geteuid() != 0) {
        if (user->uid != ::geteuid()) {
          throw std::runtime_error("--user " + user_spec + ": switching users needs root; the process runs as uid " + std::to_string(::geteuid()));
        }
        user.reset();  // already that user
      }
    }
    const uid_t uid = user ? user->uid : ::geteuid();
    const auto groups = user ? privilege::groups_of(user->name, user->gid) : privilege::process_groups();
    std::vector<privilege::Need> needs;
    for (const auto& block : config.blocks) {
      for (const auto& zone : block.wgsd) {
        needs.push_back(privilege::need_of(zone.device, wgsd::server::default_backend(zone)->access(zone.device), uid, groups));
      }
    }
    const privilege::Caps permitted = privilege::current().permitted;
    privilege::check(needs, permitted, user_spec.empty() ? "" : "--user " + user_spec + ": ");
    keep = privilege::reader_caps(needs, permitted) | (permitted & privilege::cap_net_bind_service);
  } catch (const std::exception& e) {
    std::cerr << "wgsd-server: " << e.what() << "\n";
    return 1;
  }

  // Signals are taken by sigwait below, in this thread only; every other thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  try {
    // Inside: a log that cannot start (no thread) is an error like any other.
    wgsd::server::Log log;
    wgsd::server::Server server(config, wgsd::server::default_backend, log, limits);
    // Every socket is bound: from here on the main thread holds its capabilities in its permitted
    // set only, and each thread it starts keeps what it needs (none, for those that parse queries).
    if (user) {
      privilege::switch_user(*user, keep);
    } else {
      privilege::restrict_thread_permitted(keep);
    }
    log.drop_capabilities();
    if (::geteuid() == 0) {
      log.info("running as uid 0: each thread keeps only the capabilities it needs, but a user of its own confines more; "
               "start with --user wgsd, as the shipped wgsd-server.service does (User=wgsd)");
    }
    server.start();
    wgsd::server::log_serving(config, log);
    wgsd::server::Reloader reloader(conf, std::move(text), config, server, log);
    // Every zone has its first snapshot (published unloaded, answering SERVFAIL, when its device
    // could not be read): the server answers, and systemd hears so.
    wgsd::server::Notifier notifier(log);
    notifier.ready(server);
    for (;;) {
      int sig = 0;
      if (const auto interval = reloader.interval()) {
        const auto ms = interval->count();
        const timespec wait{static_cast<time_t>(ms / 1000), static_cast<long>(ms % 1000) * 1000000L};
        sig = sigtimedwait(&signals, nullptr, &wait);
        if (sig < 0) {
          if (errno == EAGAIN) reloader.check(false);
          continue;
        }
      } else if (sigwait(&signals, &sig) != 0) {
        continue;
      }
      if (sig == SIGHUP) {
        log.info("SIGHUP: re-reading " + conf);
        notifier.reloading();
        reloader.check(true);
        notifier.ready(server);
        continue;
      }
      log.info(std::string("received ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT") + ", shutting down");
      notifier.stopping();
      server.drain();  // not ready from now on, whatever the lameduck
      if (const auto lameduck = reloader.lameduck(); lameduck && sig == SIGTERM) {
        // `health { lameduck }`: a load balancer sees the shutdown coming while queries are still
        // answered; a second signal ends the wait.
        log.info("lameduck: answering for " + std::to_string(lameduck->count()) + "ms more");
        const timespec wait{static_cast<time_t>(lameduck->count() / 1000), static_cast<long>(lameduck->count() % 1000) * 1000000L};
        (void)sigtimedwait(&signals, nullptr, &wait);
      }
      notifier.finish();
      break;
    }
    server.stop();
  } catch (const std::exception& e) {
    std::cerr << "wgsd-server: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
