#include "server/listener.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <optional>
#include <stdexcept>
#include <unordered_map>

#include "dns/axfr.hpp"
#include "server/transfer_metrics.hpp"
#include "dns/responder.hpp"
#include "server/cpus.hpp"
#include "server/spawn.hpp"

namespace wgsd::server {
namespace {

using SteadyClock = std::chrono::steady_clock;
constexpr unsigned batch = 32;
constexpr std::size_t udp_query_max = 4096;
constexpr std::size_t tcp_output_cap = 256 * 1024;  // stop reading a client that does not read
// How long a transfer waits for a reader that reads nothing: a secondary loading a large RRset
// stops reading for many seconds (NSD's tcp-timeout is 120 s too). The idle timeout is for
// connections with nothing under way.
constexpr std::chrono::seconds transfer_stall_timeout{120};
constexpr int udp_receive_buffer = 4 << 20;
constexpr int poll_retry_ms = 10;  // a UDP worker whose poll failed waits this long before the next

// Counts down one of the forced failures of a test; false when there is none left.
bool forced(std::atomic<int>& left) {
  int n = left.load(std::memory_order_relaxed);
  while (n > 0) {
    if (left.compare_exchange_weak(n, n - 1, std::memory_order_relaxed)) return true;
  }
  return false;
}

std::string where(const wg::IpAddress& a, std::uint16_t port, const char* proto) {
  return std::string(proto) + " " + wg::Endpoint{a, port}.to_string();
}

wg::UniqueFd open_socket(const wg::IpAddress& address, std::uint16_t port, int type) {
  const int family = address.is_v4() ? AF_INET : AF_INET6;
  const bool no_family = family == AF_INET6 && testing::no_ipv6.load(std::memory_order_relaxed);
  if (no_family) errno = EAFNOSUPPORT;
  wg::UniqueFd fd(no_family ? -1 : ::socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  const std::string what = where(address, port, type == SOCK_DGRAM ? "udp" : "tcp");
  if (!fd) throw std::runtime_error("listen " + what + ": " + std::strerror(errno));
  const int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  // UDP: one socket per worker. Both: a block bound to an address listens beside another block's
  // wildcard on the same port, and a reload binds new sockets before the old ones close.
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  // Without these the socket would answer the wrong family or from the wrong address: refuse it.
  const auto must = [&](int level, int name, const char* option) {
    if (::setsockopt(fd.get(), level, name, &one, sizeof one) != 0) {
      throw std::runtime_error("listen " + what + ": " + option + ": " + std::strerror(errno));
    }
  };
  if (family == AF_INET6) must(IPPROTO_IPV6, IPV6_V6ONLY, "IPV6_V6ONLY");
  if (type == SOCK_DGRAM) {
    // The local address of each packet: replies leave from it, and `self` answers with it.
    if (family == AF_INET) must(IPPROTO_IP, IP_PKTINFO, "IP_PKTINFO");
    else must(IPPROTO_IPV6, IPV6_RECVPKTINFO, "IPV6_RECVPKTINFO");
    // A burst that arrives while a worker is off the CPU must queue, not drop: the default buffer
    // (208 KiB) holds about 270 queries, each counted at its skb size. Beyond net.core.rmem_max
    // only with CAP_NET_ADMIN; without it the kernel caps the request at rmem_max.
    if (::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &udp_receive_buffer, sizeof udp_receive_buffer) != 0) {
      ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &udp_receive_buffer, sizeof udp_receive_buffer);
    }
  }
  sockaddr_storage ss{};
  const auto len = wg::Endpoint{address, port}.to_sockaddr(ss);
  // A port below 1024 takes CAP_NET_BIND_SERVICE, held in the permitted set only between binds.
  // Without it the bind is tried as it is (net.ipv4.ip_unprivileged_port_start may allow it).
  std::optional<privilege::Raised> raised;
  if (port != 0 && port < 1024 && (privilege::current().permitted & privilege::cap_net_bind_service) != 0) {
    raised.emplace(privilege::cap_net_bind_service, "listen " + what);
  }
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), static_cast<socklen_t>(len)) != 0) {
    throw std::runtime_error("listen " + what + ": " + std::strerror(errno));
  }
  if (type == SOCK_STREAM && ::listen(fd.get(), 128) != 0) throw std::runtime_error("listen " + what + ": " + std::strerror(errno));
  return fd;
}

wg::UniqueFd checked(int fd, const char* what) {
  if (fd < 0) throw std::runtime_error(std::string("listener: ") + what + ": " + std::strerror(errno));
  return wg::UniqueFd(fd);
}

void epoll_add(int ep, int fd) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = fd;
  if (::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) throw std::runtime_error(std::string("listener: epoll_ctl: ") + std::strerror(errno));
}

std::optional<wg::IpAddress> local_of(msghdr& msg) {
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
      in_pktinfo info{};
      std::memcpy(&info, CMSG_DATA(c), sizeof info);
      std::array<std::uint8_t, 4> b{};
      std::memcpy(b.data(), &info.ipi_addr, 4);
      return wg::IpAddress::v4(b);
    }
    if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
      in6_pktinfo info{};
      std::memcpy(&info, CMSG_DATA(c), sizeof info);
      std::array<std::uint8_t, 16> b{};
      std::memcpy(b.data(), &info.ipi6_addr, 16);
      return wg::IpAddress::v6(b);
    }
  }
  return std::nullopt;
}

// Control data for the reply: send from the address the query came to (wildcard sockets).
std::size_t reply_control(const wg::IpAddress& local, char* buf, std::size_t cap) {
  msghdr m{};
  m.msg_control = buf;
  m.msg_controllen = cap;
  cmsghdr* c = CMSG_FIRSTHDR(&m);
  if (local.is_v4()) {
    in_pktinfo info{};
    std::memcpy(&info.ipi_spec_dst, local.data(), 4);
    c->cmsg_level = IPPROTO_IP;
    c->cmsg_type = IP_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof info);
    std::memcpy(CMSG_DATA(c), &info, sizeof info);
    return CMSG_SPACE(sizeof info);
  }
  in6_pktinfo info{};
  std::memcpy(&info.ipi6_addr, local.data(), 16);
  c->cmsg_level = IPPROTO_IPV6;
  c->cmsg_type = IPV6_PKTINFO;
  c->cmsg_len = CMSG_LEN(sizeof info);
  std::memcpy(CMSG_DATA(c), &info, sizeof info);
  return CMSG_SPACE(sizeof info);
}

}  // namespace

// The blocks a thread counts into, one per address it answers on, given back when it ends.
class CountingBlocks {
public:
  CountingBlocks(metrics::Registry* registry, const std::vector<std::string>& labels) : registry_(registry) {
    if (registry_ == nullptr) return;
    for (const auto& l : labels) blocks_.push_back(registry_->acquire(l));
  }
  ~CountingBlocks() {
    for (auto* b : blocks_) registry_->release(b);
  }
  CountingBlocks(const CountingBlocks&) = delete;
  CountingBlocks& operator=(const CountingBlocks&) = delete;
  [[nodiscard]] metrics::Block* at(std::size_t i) const { return i < blocks_.size() ? blocks_[i] : nullptr; }

private:
  metrics::Registry* registry_;
  std::vector<metrics::Block*> blocks_;
};

Listener::Listener(ListenerOptions options, const SnapshotHolder& holder, Log& log, metrics::Registry* metrics)
    : options_(std::move(options)),
      holder_(holder),
      log_(log),
      stop_event_(checked(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), "eventfd")),
      epoll_(checked(::epoll_create1(EPOLL_CLOEXEC), "epoll_create1")),
      log_queries_(options_.log),
      log_errors_(options_.errors),
      metrics_(metrics),
      count_(options_.count) {
  std::vector<wg::IpAddress> addresses = options_.addresses;
  const bool wildcard = addresses.empty();
  if (wildcard) addresses = {wg::IpAddress(), wg::IpAddress::v6({})};
  const unsigned workers = options_.udp_workers != 0 ? options_.udp_workers : default_worker_count();
  udp_.resize(workers);
  for (const auto& a : addresses) {
    try {
      for (unsigned w = 0; w < workers; ++w) udp_[w].push_back(open_socket(a, options_.port, SOCK_DGRAM));
      tcp_.push_back(open_socket(a, options_.port, SOCK_STREAM));
      labels_.push_back(metrics::server_label(wildcard || a.is_unspecified() ? std::nullopt : std::optional(a), options_.port));
    } catch (const std::exception&) {
      // A host without IPv6 still serves IPv4 when no address was named.
      if (!(a.is_v6() && (wildcard || (options_.ipv6_optional && a == wg::IpAddress::v6({}))))) throw;
      for (auto& w : udp_) {
        if (w.size() > tcp_.size()) w.pop_back();
      }
    }
  }
  for (auto& l : tcp_) epoll_add(epoll_.get(), l.get());
  epoll_add(epoll_.get(), stop_event_.get());
}

Listener::~Listener() { stop(); }

void Listener::spawn() {
  threads_.reserve(udp_.size() + 1);
  // Each thread counts itself out when its loop returns, so that alive() sees one gone.
  auto counted = [this](const char* name, auto body) {
    ++running_;
    try {
      threads_.push_back(spawn_thread(name, [this, body] {
        body();
        --running_;
      }));
    } catch (...) {
      --running_;
      throw;
    }
    ++spawned_;
  };
  for (auto& sockets : udp_) {
    std::vector<int> fds;
    for (auto& s : sockets) fds.push_back(s.get());
    counted("wgsd-udp", [this, fds] { udp_worker(fds); });
  }
  counted("wgsd-tcp", [this] { tcp_loop(); });
}

void Listener::open() noexcept {
  open_.store(true);
  open_.notify_all();
}

void Listener::set_logging(bool log, bool errors) {
  log_queries_.store(log, std::memory_order_relaxed);
  log_errors_.store(errors, std::memory_order_relaxed);
}

void Listener::stop() {
  if (stopping_.exchange(true)) return;
  const std::uint64_t one = 1;
  (void)::write(stop_event_.get(), &one, sizeof one);
  open();  // threads waiting to open see the stop
  for (auto& t : threads_) t.join();
  threads_.clear();
}

void Listener::udp_worker(std::vector<int> fds) {
  open_.wait(false);
  SnapshotHolder::Reader reader(holder_);
  const CountingBlocks blocks(metrics_, labels_);
  struct Slot {
    std::array<std::uint8_t, udp_query_max> in;
    std::array<std::uint8_t, dns::max_udp_payload> out;
    sockaddr_storage peer;
    alignas(cmsghdr) char control[128];
    alignas(cmsghdr) char reply_control[128];
    iovec in_iov, out_iov;
  };
  std::vector<Slot> slots(batch);
  std::vector<mmsghdr> in(batch);
  std::vector<mmsghdr> out(batch);
  std::array<std::span<const std::uint8_t>, batch> asked;  // per batch; here, not cleared for each
  dns::ResponseInfo info;  // per query; respond() sets all of it
  std::vector<pollfd> polls;
  for (int fd : fds) polls.push_back({fd, POLLIN, 0});
  polls.push_back({stop_event_.get(), POLLIN, 0});

  // Read every socket until none has anything; only then block. While blocked the worker holds
  // no snapshot (a quiescent state): an idle worker must not keep a replaced one alive, and under
  // load it reads batches back to back without a poll between them.
  bool idle = true;
  while (!stopping_.load(std::memory_order_relaxed)) {
    if (idle) {
      reader.release();
      const bool fail = forced(testing::failed_polls);
      if (fail) errno = ENOMEM;
      if (fail || ::poll(polls.data(), polls.size(), -1) < 0) {
        // Never leave: a worker gone would leave its sockets bound, and the kernel would go on
        // handing them their share of the clients. Say so (limited), wait a little, try again.
        const int error = errno;
        if (error != EINTR) {
          if (log_.admit_limited()) log_.error(std::string("UDP worker: poll: ") + std::strerror(error) + " (retrying)");
          pollfd stop{stop_event_.get(), POLLIN, 0};
          (void)::poll(&stop, 1, poll_retry_ms);
        }
        continue;
      }
      if (polls.back().revents != 0) break;
    }
    idle = true;
    for (std::size_t f = 0; f + 1 < polls.size(); ++f) {
      for (unsigned i = 0; i < batch; ++i) {
        Slot& s = slots[i];
        s.in_iov = {s.in.data(), s.in.size()};
        in[i].msg_hdr = msghdr{};
        in[i].msg_hdr.msg_name = &s.peer;
        in[i].msg_hdr.msg_namelen = sizeof s.peer;
        in[i].msg_hdr.msg_iov = &s.in_iov;
        in[i].msg_hdr.msg_iovlen = 1;
        in[i].msg_hdr.msg_control = s.control;
        in[i].msg_hdr.msg_controllen = sizeof s.control;
      }
      const int n = ::recvmmsg(polls[f].fd, in.data(), batch, MSG_DONTWAIT, nullptr);
      if (n <= 0) continue;
      idle = false;
      const dns::ZoneSet& zones = reader.current();
      // What each datagram asks. One larger than the buffer arrives cut to it (MSG_TRUNC): it is
      // empty here, so that it is neither looked at nor answered (respond() sends nothing).
      for (int i = 0; i < n; ++i) {
        const mmsghdr& m = in[static_cast<std::size_t>(i)];
        const bool whole = (m.msg_hdr.msg_flags & MSG_TRUNC) == 0;
        asked[static_cast<std::size_t>(i)] = {slots[static_cast<std::size_t>(i)].in.data(), whole ? m.msg_len : 0U};
      }
      // Look every name of the batch up in the cache first: in a large zone each lookup misses the
      // cache, and asked together the misses overlap.
      if (n > 1) dns::prefetch(std::span(asked).first(static_cast<std::size_t>(n)), zones);
      unsigned replies = 0;
      // Each query's time is the time its answer took: one clock read per query, only when counting.
      metrics::Block* block = count_.load(std::memory_order_relaxed) ? blocks.at(f) : nullptr;
      auto mark = block != nullptr ? SteadyClock::now() : SteadyClock::time_point{};
      for (int i = 0; i < n; ++i) {
        Slot& s = slots[static_cast<std::size_t>(i)];
        // The clock and the peer's text form are only for the log: not read when it is off.
        const auto start = log_queries_.load(std::memory_order_relaxed) ? SteadyClock::now() : SteadyClock::time_point{};
        dns::QueryContext ctx{dns::Transport::udp, local_of(in[static_cast<std::size_t>(i)].msg_hdr), reinterpret_cast<const sockaddr*>(&s.peer)};
        const std::size_t size = dns::respond(asked[static_cast<std::size_t>(i)], zones, ctx, s.out, &info);
        if (block != nullptr && (size != 0 || info.dropped_by_acl)) {
          const auto now = SteadyClock::now();
          const auto took = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(now - mark).count());
          mark = now;
          metrics::count(*block, zones, asked[static_cast<std::size_t>(i)], info,
                         {dns::Transport::udp, s.peer.ss_family, asked[static_cast<std::size_t>(i)].size(), size, took});
        }
        if (size == 0 && info.dropped_by_acl) continue;  // as configured: nothing is wrong
        if (size == 0) {
          const auto remote = wg::Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&s.peer), in[static_cast<std::size_t>(i)].msg_hdr.msg_namelen);
          if (log_errors_.load(std::memory_order_relaxed) && remote && log_.admit_limited()) log_.error("dropped a " + std::to_string(in[static_cast<std::size_t>(i)].msg_len) + "-byte UDP packet from " + remote->to_string() + " (too short, too long, or a response)");
          continue;
        }
        if (log_queries_.load(std::memory_order_relaxed)) {
          const auto remote = wg::Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&s.peer), in[static_cast<std::size_t>(i)].msg_hdr.msg_namelen);
          if (remote) log_.info(format_query(*remote, asked[static_cast<std::size_t>(i)], info, dns::Transport::udp, SteadyClock::now() - start));
        }
        s.out_iov = {s.out.data(), size};
        mmsghdr& m = out[replies++];
        m.msg_hdr = msghdr{};
        m.msg_hdr.msg_name = &s.peer;
        m.msg_hdr.msg_namelen = in[static_cast<std::size_t>(i)].msg_hdr.msg_namelen;
        m.msg_hdr.msg_iov = &s.out_iov;
        m.msg_hdr.msg_iovlen = 1;
        if (ctx.local_address) {
          m.msg_hdr.msg_control = s.reply_control;
          m.msg_hdr.msg_controllen = reply_control(*ctx.local_address, s.reply_control, sizeof s.reply_control);
        }
      }
      for (unsigned sent = 0; sent < replies;) {
        const int k = ::sendmmsg(polls[f].fd, out.data() + sent, replies - sent, 0);
        if (k <= 0) {
          if (errno == EINTR) continue;
          // This one cannot be sent (unreachable, filtered, no buffer): count it, keep the rest.
          const int error = errno;
          send_failures_.fetch_add(1, std::memory_order_relaxed);
          const msghdr& h = out[sent].msg_hdr;
          if (log_errors_.load(std::memory_order_relaxed) && log_.admit_limited()) {
            if (const auto remote = wg::Endpoint::from_sockaddr(static_cast<const sockaddr*>(h.msg_name), h.msg_namelen)) {
              log_.error("could not send a " + std::to_string(h.msg_iov->iov_len) + "-byte UDP reply to " + remote->to_string() + ": " + std::strerror(error));
            }
          }
          ++sent;
          continue;
        }
        sent += static_cast<unsigned>(k);
      }
    }
  }
}

void Listener::tcp_loop() {
  open_.wait(false);
  struct Conn {
    wg::UniqueFd fd;
    std::vector<std::uint8_t> in;
    std::vector<std::uint8_t> out;
    std::size_t out_sent{};
    SteadyClock::time_point last;
    std::optional<wg::IpAddress> local;
    std::optional<wg::Endpoint> remote;
    sockaddr_storage peer{};  // for `acl`
    bool eof{};
    // A zone transfer in progress: its messages are made as the output drains, and the queries
    // that follow it on this connection wait until it is done.
    std::unique_ptr<dns::TransferStream> xfr;
    std::uint8_t xfr_slot{};  // the transfer's zone and type, for wgsd_transfers_total
    metrics::TransferType xfr_type{};
    bool xfr_draining{};      // the last message is made, not yet all written to the socket
    std::size_t address{};    // index of the listening socket: the `server` label
  };
  SnapshotHolder::Reader reader(holder_);
  const CountingBlocks blocks(metrics_, labels_);
  const int ep = epoll_.get();
  // Kept open to accept and close a connection when the process is out of descriptors.
  wg::UniqueFd spare(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  std::unordered_map<int, Conn> conns;
  std::vector<std::uint8_t> response(dns::max_message);

  // The index of a listening socket, or -1.
  auto listener_index = [&](int fd) -> int {
    for (std::size_t i = 0; i < tcp_.size(); ++i) {
      if (tcp_[i].get() == fd) return static_cast<int>(i);
    }
    return -1;
  };
  auto count_transfer = [&](std::uint8_t slot, metrics::TransferType type, metrics::TransferResult result) {
    if (metrics_ != nullptr) metrics_->transfers().count(slot, type, result);
  };
  // A connection closed with a transfer under way: the transfer counts as interrupted.
  auto drop_conn = [&](const Conn& c) {
    if (c.xfr || c.xfr_draining) count_transfer(c.xfr_slot, c.xfr_type, metrics::TransferResult::interrupted);
  };
  auto close_conn = [&](int fd) {  // UniqueFd closes; epoll forgets closed fds
    if (const auto it = conns.find(fd); it != conns.end()) drop_conn(it->second);
    conns.erase(fd);
  };
  // False when epoll refused (no memory): the connection cannot be served and is closed.
  auto update_events = [&](Conn& c) {
    epoll_event ev{};
    const bool backlog = c.out.size() - c.out_sent > tcp_output_cap;
    const bool writing = c.out_sent < c.out.size() || c.xfr;
    ev.events = (backlog || c.eof ? 0U : static_cast<std::uint32_t>(EPOLLIN)) | (writing ? static_cast<std::uint32_t>(EPOLLOUT) : 0U);
    ev.data.fd = c.fd.get();
    return ::epoll_ctl(ep, EPOLL_CTL_MOD, c.fd.get(), &ev) == 0;
  };
  auto flush = [&](Conn& c) -> bool {
    while (c.out_sent < c.out.size()) {
      const ssize_t n = ::send(c.fd.get(), c.out.data() + c.out_sent, c.out.size() - c.out_sent, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
      c.out_sent += static_cast<std::size_t>(n);
    }
    c.out.clear();
    c.out_sent = 0;
    if (c.xfr_draining) {  // every message of the transfer is with the kernel
      c.xfr_draining = false;
      count_transfer(c.xfr_slot, c.xfr_type, metrics::TransferResult::complete);
    }
    return true;
  };
  // The next messages of a transfer, while the output has room: one message per turn of the loop
  // at least, so a fast reader and a slow one share the thread.
  auto pump = [&](Conn& c) {
    if (!c.xfr) return;
    if (c.out_sent >= dns::max_message) {
      c.out.erase(c.out.begin(), c.out.begin() + static_cast<std::ptrdiff_t>(c.out_sent));
      c.out_sent = 0;
    }
    while (c.xfr && c.out.size() - c.out_sent <= tcp_output_cap) {
      const std::size_t size = c.xfr->next(response, static_cast<std::uint64_t>(std::time(nullptr)));
      if (size > 0) {
        c.out.push_back(static_cast<std::uint8_t>(size >> 8));
        c.out.push_back(static_cast<std::uint8_t>(size & 0xff));
        c.out.insert(c.out.end(), response.begin(), response.begin() + static_cast<std::ptrdiff_t>(size));
      }
      if (c.xfr->done() || size == 0) {
        if (c.xfr->done()) c.xfr_draining = true;
        else count_transfer(c.xfr_slot, c.xfr_type, metrics::TransferResult::interrupted);
        if (log_queries_.load(std::memory_order_relaxed) && c.remote) {
          log_.info("transfer to " + c.remote->to_string() + ": " + std::to_string(c.xfr->records()) + " records in " +
                    std::to_string(c.xfr->messages()) + " messages");
        }
        c.xfr.reset();
      }
    }
  };
  // RFC 7766 §6.2.1.1: answer every whole message in the buffer, in order (pipelining).
  auto process = [&](Conn& c) {
    pump(c);
    std::size_t pos = 0;
    const dns::ZoneSet& zones = reader.current();
    while (!c.xfr && c.in.size() - pos >= 2 && c.out.size() - c.out_sent <= tcp_output_cap) {
      const std::size_t len = (static_cast<std::size_t>(c.in[pos]) << 8) | c.in[pos + 1];
      if (c.in.size() - pos - 2 < len) break;
      const auto start = SteadyClock::now();
      const std::span<const std::uint8_t> query(c.in.data() + pos + 2, len);
      dns::ResponseInfo info;
      const std::size_t size = dns::respond(query, zones, {dns::Transport::tcp, c.local, reinterpret_cast<const sockaddr*>(&c.peer)}, response, &info);
      pos += 2 + len;
      if (metrics::Block* block = blocks.at(c.address);
          block != nullptr && count_.load(std::memory_order_relaxed) && (size != 0 || info.dropped_by_acl || info.transfer != nullptr)) {
        const auto took = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now() - start).count());
        metrics::count(*block, zones, query, info, {dns::Transport::tcp, c.peer.ss_family, query.size(), size, took});
      }
      const bool transfer = info.has_question && (info.qtype == dns::type::axfr || info.qtype == dns::type::ixfr);
      const auto xfr_type = info.qtype == dns::type::axfr ? metrics::TransferType::axfr : metrics::TransferType::ixfr;
      if (transfer && info.transfer == nullptr && info.rcode == dns::rcode::refused) {
        count_transfer(metrics::query_zone_slot(zones, query, info), xfr_type, metrics::TransferResult::refused);
      }
      if (size == 0 && info.transfer != nullptr) {
        c.xfr = dns::open_transfer(query, zones, info);
        c.xfr_slot = metrics::query_zone_slot(zones, query, info);
        c.xfr_type = xfr_type;
        if (log_queries_.load(std::memory_order_relaxed) && c.remote) log_.info(format_query(*c.remote, query, info, dns::Transport::tcp, SteadyClock::now() - start));
        pump(c);
        continue;
      }
      if (size == 0 && info.dropped_by_acl) continue;  // nothing written, the connection stays (as CoreDNS)
      if (size == 0) {
        if (log_errors_.load(std::memory_order_relaxed) && c.remote && log_.admit_limited()) log_.error("dropped a " + std::to_string(len) + "-byte TCP message from " + c.remote->to_string());
        continue;
      }
      if (log_queries_.load(std::memory_order_relaxed) && c.remote) log_.info(format_query(*c.remote, query, info, dns::Transport::tcp, SteadyClock::now() - start));
      c.out.push_back(static_cast<std::uint8_t>(size >> 8));
      c.out.push_back(static_cast<std::uint8_t>(size & 0xff));
      c.out.insert(c.out.end(), response.begin(), response.begin() + static_cast<std::ptrdiff_t>(size));
    }
    c.in.erase(c.in.begin(), c.in.begin() + static_cast<std::ptrdiff_t>(pos));
  };

  std::vector<epoll_event> events(64);
  while (!stopping_.load(std::memory_order_relaxed)) {
    reader.release();  // as the UDP workers do: nothing held while waiting
    const int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), 500);
    const auto now = SteadyClock::now();
    for (int i = 0; i < n; ++i) {
      const int fd = events[static_cast<std::size_t>(i)].data.fd;
      if (fd == stop_event_.get()) return;
      if (const int listening = listener_index(fd); listening >= 0) {
        for (;;) {
          sockaddr_storage peer{};
          socklen_t plen = sizeof peer;
          const bool fail = forced(testing::failed_accepts);
          if (fail) errno = EMFILE;
          wg::UniqueFd c(fail ? -1 : ::accept4(fd, reinterpret_cast<sockaddr*>(&peer), &plen, SOCK_NONBLOCK | SOCK_CLOEXEC));
          if (!c) {
            if (errno != EMFILE && errno != ENFILE) break;
            // Out of descriptors: the connection would stay in the backlog and the listening
            // socket readable, and this thread would spin. Take it with the spare descriptor
            // and close it at once (the client sees the connection closed and retries), then
            // take the spare back; without a spare, close the longest-idle connection instead.
            if (log_errors_.load(std::memory_order_relaxed) && log_.admit_limited()) log_.error(std::string("TCP: cannot accept a connection: ") + std::strerror(errno) + " (closing it)");
            if (spare) {
              spare.reset();
              wg::UniqueFd refused(::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC));
              refused.reset();
              spare = wg::UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
            } else if (!conns.empty()) {
              auto oldest = conns.begin();
              for (auto it = conns.begin(); it != conns.end(); ++it) {
                if (it->second.last < oldest->second.last) oldest = it;
              }
              close_conn(oldest->first);
              spare = wg::UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
            }
            break;  // at most one per readiness: bounded, and the next epoll_wait comes back for more
          }
          if (conns.size() >= options_.max_tcp_connections) {
            // Make room by closing the connection that has been idle longest.
            auto oldest = conns.begin();
            for (auto it = conns.begin(); it != conns.end(); ++it) {
              if (it->second.last < oldest->second.last) oldest = it;
            }
            if (oldest != conns.end()) close_conn(oldest->first);
          }
          Conn conn;
          conn.last = now;
          conn.remote = wg::Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&peer), plen);
          conn.peer = peer;
          conn.address = static_cast<std::size_t>(listening);
          sockaddr_storage local{};
          socklen_t llen = sizeof local;
          if (::getsockname(c.get(), reinterpret_cast<sockaddr*>(&local), &llen) == 0) {
            if (auto l = wg::Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&local), llen)) conn.local = l->address;
          }
          const int cfd = c.get();
          epoll_event ev{};
          ev.events = EPOLLIN;
          ev.data.fd = cfd;
          if (::epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &ev) != 0) {
            if (log_errors_.load(std::memory_order_relaxed) && log_.admit_limited()) log_.error(std::string("TCP: cannot watch a new connection: ") + std::strerror(errno));
            continue;  // c closes it
          }
          conn.fd = std::move(c);
          conns.emplace(cfd, std::move(conn));
        }
        continue;
      }
      auto it = conns.find(fd);
      if (it == conns.end()) continue;
      Conn& c = it->second;
      bool failed = false;
      if (events[static_cast<std::size_t>(i)].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        std::uint8_t buf[16384];
        while (!c.eof) {
          const ssize_t r = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
          if (r > 0) {
            c.in.insert(c.in.end(), buf, buf + r);
            c.last = now;
            if (c.in.size() > 2 * (dns::max_message + 2)) break;  // process before reading more
            continue;
          }
          if (r == 0) c.eof = true;  // the client may half-close after its last query
          else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) failed = true;
          break;
        }
      }
      process(c);
      if (!flush(c)) failed = true;
      process(c);  // input held back while the output buffer was full
      if (!flush(c)) failed = true;
      if (failed || (c.eof && c.out_sent >= c.out.size() && !c.xfr)) {
        close_conn(fd);
        continue;
      }
      if (c.out_sent < c.out.size()) c.last = now;
      if (!update_events(c)) close_conn(fd);
    }
    // RFC 7766 §6.2.3: close idle connections.
    for (auto it = conns.begin(); it != conns.end();) {
      const bool transferring = it->second.xfr || it->second.xfr_draining;
      const auto limit = transferring ? std::max<std::chrono::milliseconds>(options_.tcp_idle_timeout, transfer_stall_timeout) : options_.tcp_idle_timeout;
      if (now - it->second.last > limit) {
        drop_conn(it->second);
        it = conns.erase(it);
      } else {
        ++it;
      }
    }
  }
}

}  // namespace wgsd::server
