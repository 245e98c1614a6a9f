#include "server/notify_sender.hpp"

#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "dns/wire.hpp"
#include "server/spawn.hpp"

namespace wgsd::server {
namespace {

using SteadyClock = std::chrono::steady_clock;
constexpr std::uint8_t opcode_notify = 4;
constexpr unsigned warn_after = 5;  // unanswered attempts before the log says so

wg::UniqueFd udp_socket(int family) { return wg::UniqueFd(::socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)); }

}  // namespace

NotifySender::NotifySender(Log& log, NotifyTiming timing)
    : log_(log), timing_(timing), wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)), v4_(udp_socket(AF_INET)), v6_(udp_socket(AF_INET6)) {}

NotifySender::~NotifySender() { stop(); }

void NotifySender::configure(std::vector<NotifyZone> zones) {
  std::lock_guard lock(mutex_);
  zones_ = std::move(zones);
  std::erase_if(pending_, [&](const auto& entry) {
    const NotifyZone* z = zone(entry.first.first);
    return z == nullptr || std::find(z->targets.begin(), z->targets.end(), entry.first.second) == z->targets.end();
  });
  std::erase_if(counts_, [&](const auto& entry) {
    const NotifyZone* z = zone(entry.first.first);
    return z == nullptr || std::find(z->targets.begin(), z->targets.end(), entry.first.second) == z->targets.end();
  });
}

std::vector<NotifyTargetStatus> NotifySender::status() const {
  std::lock_guard lock(mutex_);
  std::vector<NotifyTargetStatus> out;
  for (const auto& z : zones_) {
    for (const auto& to : z.targets) {
      const Key k{z.apex_wire, to};
      NotifyTargetStatus s;
      if (const auto c = counts_.find(k); c != counts_.end()) s = c->second;
      s.zone = z.apex;
      s.target = to;
      if (const auto p = pending_.find(k); p != pending_.end()) s.pending_serial = p->second.serial;
      out.push_back(std::move(s));
    }
  }
  return out;
}

const NotifyZone* NotifySender::zone(const std::string& apex_wire) const {
  for (const auto& z : zones_) {
    if (z.apex_wire == apex_wire) return &z;
  }
  return nullptr;
}

void NotifySender::changed(const std::string& apex_wire, std::uint32_t serial) {
  {
    std::lock_guard lock(mutex_);
    const NotifyZone* z = zone(apex_wire);
    if (z == nullptr) return;
    const auto now = SteadyClock::now();
    for (const auto& to : z->targets) {
      auto [it, added] = pending_.try_emplace({apex_wire, to});
      Pending& p = it->second;
      p.serial = serial;
      // A NOTIFY not yet acknowledged carries the new serial at its next try; a new one waits a
      // moment for the rest of the burst.
      if (added) {
        p.due = now + timing_.hold;
        p.backoff = timing_.first_retry;
      }
    }
  }
  const std::uint64_t one = 1;
  (void)::write(wake_.get(), &one, sizeof one);
}

void NotifySender::start() {
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = spawn_thread("wgsd-xfrnotify", [this] { run(); });
}

void NotifySender::stop() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  const std::uint64_t one = 1;
  (void)::write(wake_.get(), &one, sizeof one);
  if (thread_.joinable()) thread_.join();
}

void NotifySender::send(const Key& k, Pending& p, SteadyClock::time_point now) {
  const NotifyZone* z = zone(k.first);
  if (z == nullptr) return;
  // Header: ID, opcode NOTIFY, AA; one question: the apex, SOA, IN.
  std::vector<std::uint8_t> msg(dns::header_size);
  randombytes_buf(&p.id, sizeof p.id);
  msg[0] = static_cast<std::uint8_t>(p.id >> 8);
  msg[1] = static_cast<std::uint8_t>(p.id & 0xff);
  msg[2] = static_cast<std::uint8_t>((opcode_notify << 3) | 0x04);
  msg[5] = 1;
  msg.insert(msg.end(), z->apex_wire.begin(), z->apex_wire.end());
  msg.insert(msg.end(), {std::uint8_t{0}, std::uint8_t{dns::type::soa}, std::uint8_t{0}, std::uint8_t{1}});
  std::size_t size = msg.size();
  if (z->key) {
    msg.resize(size + 512);
    dns::tsig::SignParams sp;
    sp.time_signed = static_cast<std::uint64_t>(std::time(nullptr));
    sp.original_id = p.id;
    size = dns::tsig::sign(msg, size, *z->key, sp);
  }
  sockaddr_storage ss{};
  const auto len = k.second.to_sockaddr(ss);
  const int fd = k.second.address.is_v4() ? v4_.get() : v6_.get();
  if (size > 0 && ::sendto(fd, msg.data(), size, 0, reinterpret_cast<sockaddr*>(&ss), static_cast<socklen_t>(len)) >= 0) {
    sent_.fetch_add(1, std::memory_order_relaxed);
    ++counts_[k].sent;
  } else {
    ++counts_[k].failed;
  }
  p.in_flight = true;
  ++p.attempts;
  if (p.attempts == warn_after && !p.warned) {
    p.warned = true;
    log_.error("NOTIFY " + z->apex + " serial " + std::to_string(p.serial) + " to " + k.second.to_string() + ": no answer after " +
               std::to_string(p.attempts) + " tries (retrying)");
  }
  // Counted from the moment it left, so the secondary never sees two tries closer than the backoff
  // even when this thread was held up between reading the clock and sending.
  p.due = std::max(now, SteadyClock::now()) + p.backoff;
  p.backoff = std::min(p.backoff * 2, timing_.max_retry);
}

void NotifySender::receive(int fd) {
  for (;;) {
    std::uint8_t buf[4096];
    sockaddr_storage from{};
    socklen_t flen = sizeof from;
    const ssize_t n = ::recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &flen);
    if (n < 0) return;
    if (static_cast<std::size_t>(n) < dns::header_size || (buf[2] & 0x80) == 0 || ((buf[2] >> 3) & 0x0f) != opcode_notify) continue;
    const auto source = wg::Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&from), flen);
    if (!source) continue;
    const std::uint16_t id = dns::get_u16(buf);
    const std::uint8_t rcode = buf[3] & 0x0f;
    std::lock_guard lock(mutex_);
    for (auto it = pending_.begin(); it != pending_.end(); ++it) {
      const auto& [key, p] = *it;
      if (!p.in_flight || p.id != id || key.second.address.unmapped() != source->address.unmapped() || key.second.port != source->port) continue;
      NotifyTargetStatus& counts = counts_[key];
      if (rcode != dns::rcode::noerror) {
        // Refused or not authorised: the secondary's configuration, which retrying will not change.
        const NotifyZone* z = zone(key.first);
        log_.error("NOTIFY " + (z != nullptr ? z->apex : std::string("?")) + " to " + key.second.to_string() + ": answered " + dns::rcode_name(rcode));
        ++counts.failed;
      } else {
        ++counts.acknowledged;
        counts.acked_serial = p.serial;
        counts.acked_at = wg::Clock::now();
      }
      acknowledged_.fetch_add(1, std::memory_order_relaxed);
      pending_.erase(it);
      break;
    }
  }
}

void NotifySender::run() {
  for (;;) {
    int timeout = -1;
    {
      std::lock_guard lock(mutex_);
      if (stop_) return;
      const auto now = SteadyClock::now();
      for (auto& [k, p] : pending_) {
        if (p.due <= now) send(k, p, now);
        const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(p.due - now).count();
        const int ms = static_cast<int>(std::max<long long>(1, wait));
        timeout = timeout < 0 ? ms : std::min(timeout, ms);
      }
    }
    pollfd fds[3] = {{wake_.get(), POLLIN, 0}, {v4_.get(), POLLIN, 0}, {v6_.get(), POLLIN, 0}};
    if (::poll(fds, 3, timeout) < 0 && errno != EINTR) {
      pollfd stop{wake_.get(), POLLIN, 0};
      (void)::poll(&stop, 1, 100);
    }
    if (fds[0].revents != 0) {
      std::uint64_t v = 0;
      (void)::read(wake_.get(), &v, sizeof v);
    }
    if (fds[1].revents != 0) receive(v4_.get());
    if (fds[2].revents != 0) receive(v6_.get());
  }
}

}  // namespace wgsd::server
