#include "client/lookup.hpp"

#include <poll.h>
#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>

#include "client/reply.hpp"
#include "client/resolver.hpp"
#include "dns/wire.hpp"

namespace wgsd::client {
namespace {

// One peer at one registry: SRV, then A and AAAA for the target if the SRV came without its address.
struct Job {
  std::size_t name{};
  std::size_t registry{};
  enum class Step { srv, a, aaaa, txt } step{Step::srv};
  SrvReply srv;
  std::optional<wg::Endpoint> endpoint;   ///< with LookupOptions::txt: what the SRV steps found
  std::unique_ptr<Exchange> exchange;
  RegistryAnswer* out{};
  bool finished{};
};

class Round {
public:
  Round(const std::vector<std::string>& qnames, const std::vector<wg::Endpoint>& registries, const LookupOptions& options)
      : qnames_(qnames), registries_(registries), options_(options), resolver_{options.timeout, options.retries, options.key, false},
        poll_(options.poll ? options.poll : std::function<int(pollfd*, nfds_t, int)>(::poll)) {
    results_.assign(qnames.size(), std::vector<RegistryAnswer>(registries.size()));
  }

  std::vector<std::vector<RegistryAnswer>> run() {
    const std::size_t total = qnames_.size() * registries_.size();
    const std::size_t limit = std::max<std::size_t>(1, std::min<std::size_t>(options_.concurrency, fd_budget()));
    std::size_t next = 0;  // jobs are started name by name, so a peer's registries are asked side by side
    std::vector<Job> active;
    std::vector<pollfd> fds;
    for (;;) {
      const auto now = SteadyClock::now();
      while (active.size() < limit && next < total) {
        Job job;
        job.name = next / registries_.size();
        job.registry = next % registries_.size();
        job.out = &results_[job.name][job.registry];
        ++next;
        begin(job, qnames_[job.name], dns::type::srv, now);
        if (!job.finished) active.push_back(std::move(job));
      }
      if (active.empty()) break;
      if (stop_requested(options_)) {
        for (auto& job : active) end_unfinished(job.out, RegistryAnswer::Kind::stopped, "stopped");
        for (; next < total; ++next) end_unfinished(&at(next), RegistryAnswer::Kind::stopped, "stopped");
        break;
      }

      fds.clear();
      auto wake = now + std::chrono::milliseconds(100);  // the stop flag is looked at this often
      for (const auto& job : active) {
        fds.push_back({job.exchange->fd(), job.exchange->events(), 0});
        wake = std::min(wake, job.exchange->deadline());
      }
      if (options_.stop_fd >= 0) fds.push_back({options_.stop_fd, POLLIN, 0});
      const auto wait = std::chrono::ceil<std::chrono::milliseconds>(wake - now).count();
      const int r = poll_(fds.data(), fds.size(), static_cast<int>(std::max<long long>(0, wait)));
      if (r < 0 && errno != EINTR) {
        // The loop cannot wait (ENOMEM, ...): every exchange, started or not, ends here with why.
        // Nothing is left in `active` whose exchange is gone.
        const std::string why = std::string("poll: ") + std::strerror(errno);
        for (auto& job : active) end_unfinished(job.out, RegistryAnswer::Kind::failed, why);
        for (; next < total; ++next) end_unfinished(&at(next), RegistryAnswer::Kind::failed, why);
        break;
      }
      const auto then = SteadyClock::now();
      for (std::size_t i = 0; i < active.size(); ++i) {
        auto& job = active[i];
        if (r > 0 && fds[i].revents != 0) job.exchange->on_ready(fds[i].revents, then);
        job.exchange->on_deadline(then);
        settle(job, then);
      }
      std::erase_if(active, [](const Job& j) { return j.finished; });
    }
    return std::move(results_);
  }

private:
  // File descriptors this process may still open, leaving room for the device and stdio: a low
  // RLIMIT_NOFILE narrows the round instead of failing lookups with EMFILE.
  static std::size_t fd_budget() {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return SIZE_MAX;
    return limit.rlim_cur > 32 ? static_cast<std::size_t>(limit.rlim_cur - 32) : 1;
  }

  void begin(Job& job, const std::string& qname, std::uint16_t qtype, SteadyClock::time_point now) {
    try {
      job.exchange = std::make_unique<Exchange>(registries_[job.registry], qname, qtype, resolver_);
      job.exchange->start(now);
    } catch (const std::exception& e) {
      return finish(job, e.what());
    }
    settle(job, now);
  }

  RegistryAnswer& at(std::size_t job) { return results_[job / registries_.size()][job % registries_.size()]; }

  static void end_unfinished(RegistryAnswer* out, RegistryAnswer::Kind kind, const std::string& why) {
    out->kind = kind;
    out->error = why;
  }

  void finish(Job& job, const std::string& error) {
    job.out->kind = RegistryAnswer::Kind::failed;
    job.out->error = error;
    job.finished = true;
    job.exchange.reset();
  }

  void found(Job& job, const wg::IpAddress& address, SteadyClock::time_point now) {
    if (options_.txt) {  // the TXT decides the allowed IPs: ask it before the answer is done
      job.endpoint = wg::Endpoint{address.unmapped(), job.srv.port};
      job.step = Job::Step::txt;
      return begin(job, qnames_[job.name], dns::type::txt, now);
    }
    job.out->kind = RegistryAnswer::Kind::found;
    job.out->endpoint = {address.unmapped(), job.srv.port};
    job.out->handshake = job.srv.handshake;
    job.out->allowed = std::move(job.srv.allowed);
    job.finished = true;
    job.exchange.reset();
  }

  // The TXT step's reply: the answer is done, with or without the endpoint the SRV steps found.
  void read_txt(Job& job) {
    if (job.exchange->state() == Exchange::State::failed) return finish(job, "TXT: " + job.exchange->error());
    TxtReply txt;
    try {
      txt = read_txt_reply(job.exchange->reply(), qnames_[job.name]);
    } catch (const std::runtime_error& e) {
      return finish(job, std::string("TXT: ") + e.what());
    }
    job.out->kind = job.endpoint ? RegistryAnswer::Kind::found : txt.found ? RegistryAnswer::Kind::no_endpoint : RegistryAnswer::Kind::not_found;
    if (job.endpoint) job.out->endpoint = *job.endpoint;
    job.out->handshake = txt.handshake;
    job.out->allowed = std::move(txt.allowed);
    job.finished = true;
    job.exchange.reset();
  }

  // Moves the job on when its exchange is over: reads the reply, asks the next question or ends.
  void settle(Job& job, SteadyClock::time_point now) {
    if (job.finished || !job.exchange) return;
    const auto state = job.exchange->state();
    if (state == Exchange::State::running || state == Exchange::State::idle) return;
    try {
      if (job.step == Job::Step::srv) {
        if (state == Exchange::State::failed) return finish(job, job.exchange->error());
        job.srv = read_srv_reply(job.exchange->reply(), qnames_[job.name]);
        if (job.srv.kind == SrvReply::Kind::not_found && options_.txt) {
          job.step = Job::Step::txt;
          return begin(job, qnames_[job.name], dns::type::txt, now);
        }
        if (job.srv.kind == SrvReply::Kind::not_found) {
          job.out->kind = RegistryAnswer::Kind::not_found;
          job.finished = true;
          job.exchange.reset();
          return;
        }
        if (job.srv.kind == SrvReply::Kind::error) return finish(job, job.srv.error);
        if (job.srv.address) return found(job, *job.srv.address, now);
        // A recursive resolver may have stripped the additional section: ask for the target's address.
        job.step = Job::Step::a;
        return begin(job, job.srv.target, dns::type::a, now);
      }
      if (job.step == Job::Step::txt) return read_txt(job);
      const std::string about = "address of " + job.srv.target + ": ";
      if (state == Exchange::State::failed) return finish(job, about + job.exchange->error());
      const std::uint16_t qtype = job.step == Job::Step::a ? dns::type::a : dns::type::aaaa;
      std::optional<wg::IpAddress> address;
      try {
        address = read_address_reply(job.exchange->reply(), job.srv.target, qtype);
      } catch (const std::runtime_error& e) {
        return finish(job, about + e.what());
      }
      if (address) return found(job, *address, now);
      if (job.step == Job::Step::a) {
        job.step = Job::Step::aaaa;
        return begin(job, job.srv.target, dns::type::aaaa, now);
      }
      finish(job, "SRV target " + job.srv.target + " has no address");
    } catch (const std::exception& e) {
      finish(job, e.what());
    }
  }

  const std::vector<std::string>& qnames_;
  const std::vector<wg::Endpoint>& registries_;
  const LookupOptions& options_;
  ResolverOptions resolver_;
  std::function<int(pollfd*, nfds_t, int)> poll_;
  std::vector<std::vector<RegistryAnswer>> results_;
};

}  // namespace

bool stop_requested(const LookupOptions& options) {
  if (options.stop != nullptr && options.stop->load()) return true;
  if (options.stop_fd < 0) return false;
  pollfd p{options.stop_fd, POLLIN, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & POLLIN) != 0;
}

std::vector<std::vector<RegistryAnswer>> lookup_all(const std::vector<std::string>& qnames,
                                                    const std::vector<wg::Endpoint>& registries, const LookupOptions& options) {
  if (qnames.empty() || registries.empty()) return std::vector<std::vector<RegistryAnswer>>(qnames.size());
  return Round(qnames, registries, options).run();
}

}  // namespace wgsd::client
