#include "client/axfr_listing.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <set>

#include "client/reply.hpp"
#include "client/resolver.hpp"
#include "dns/wire.hpp"
#include "wg/unique_fd.hpp"

namespace wgsd::client {
namespace {

constexpr std::uint16_t rcode_refused = 5, rcode_notimp = 4, rcode_notauth = 9;

using Clock = std::chrono::steady_clock;

// Waits until `fd` shows `events`, the deadline passes (false, `why` set) or the stop fd fires.
bool wait_for(int fd, short events, int stop_fd, Clock::time_point deadline, std::string& why) {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      why = "timed out";
      return false;
    }
    pollfd fds[2] = {{fd, events, 0}, {stop_fd, POLLIN, 0}};
    const int n = ::poll(fds, stop_fd >= 0 ? 2 : 1, static_cast<int>(left));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      why = std::string("poll: ") + std::strerror(errno);
      return false;
    }
    if (stop_fd >= 0 && (fds[1].revents & POLLIN) != 0) {
      why = "stopped";
      return false;
    }
    if (fds[0].revents != 0) return true;
  }
}

// Reads exactly `size` bytes.
bool read_exact(int fd, std::uint8_t* out, std::size_t size, int stop_fd, Clock::time_point deadline, std::string& why) {
  std::size_t got = 0;
  while (got < size) {
    if (!wait_for(fd, POLLIN, stop_fd, deadline, why)) return false;
    const ssize_t n = ::recv(fd, out + got, size - got, 0);
    if (n == 0) {
      why = "the registry closed the connection mid-transfer";
      return false;
    }
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      why = std::string("recv: ") + std::strerror(errno);
      return false;
    }
    got += static_cast<std::size_t>(n);
  }
  return true;
}

// The number of SOA records in the answer section of `msg`; -1 if the message does not parse.
int answer_soas(const std::vector<std::uint8_t>& msg) {
  const std::span<const std::uint8_t> m(msg);
  if (m.size() < dns::header_size) return -1;
  const std::uint16_t qd = dns::get_u16(m.data() + 4), an = dns::get_u16(m.data() + 6);
  std::size_t pos = dns::header_size;
  for (std::uint16_t i = 0; i < qd; ++i) {
    const auto n = dns::skip_name(m, pos);
    if (n == 0 || pos + n + 4 > m.size()) return -1;
    pos += n + 4;
  }
  int soas = 0;
  for (std::uint16_t i = 0; i < an; ++i) {
    const auto n = dns::skip_name(m, pos);
    if (n == 0 || pos + n + 10 > m.size()) return -1;
    pos += n;
    if (dns::get_u16(m.data() + pos) == dns::type::soa) ++soas;
    const std::size_t rdlength = dns::get_u16(m.data() + pos + 8);
    pos += 10 + rdlength;
    if (pos > m.size()) return -1;
  }
  return soas;
}

AxfrListing fail(AxfrListing out, std::string why) {
  out.result = AxfrListing::Result::failed;
  out.error = std::move(why);
  out.keys.clear();
  return out;
}

}  // namespace

AxfrListing axfr_listing(const wg::Endpoint& server, const std::string& zone, const dns::tsig::Key* key, const AxfrLimits& limits,
                         int stop_fd) {
  AxfrListing out;
  const std::string where = "AXFR from " + server.to_string() + ": ";
  try {
    std::uint16_t id = 0;
    auto query = build_query(zone, dns::type::axfr, id);
    std::vector<std::uint8_t> mac;
    if (key != nullptr) mac = sign_query(query, *key, static_cast<std::uint64_t>(std::time(nullptr)));
    const std::string service = "_wireguard._udp." + zone;

    sockaddr_storage addr{};
    const auto addr_len = server.to_sockaddr(addr);
    wg::UniqueFd fd(::socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) return fail(out, where + "socket: " + std::strerror(errno));
    const auto end = Clock::now() + limits.total;
    auto deadline = std::min(end, Clock::now() + limits.message_timeout);
    std::string why;
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), static_cast<socklen_t>(addr_len)) != 0 && errno != EINPROGRESS) {
      return fail(out, where + "connect: " + std::strerror(errno));
    }
    if (!wait_for(fd.get(), POLLOUT, stop_fd, deadline, why)) return fail(out, where + "connect: " + why);
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return fail(out, where + "connect: " + std::strerror(err));
    std::vector<std::uint8_t> framed{static_cast<std::uint8_t>(query.size() >> 8), static_cast<std::uint8_t>(query.size())};
    framed.insert(framed.end(), query.begin(), query.end());
    for (std::size_t sent = 0; sent < framed.size();) {
      if (!wait_for(fd.get(), POLLOUT, stop_fd, deadline, why)) return fail(out, where + "send: " + why);
      const ssize_t n = ::send(fd.get(), framed.data() + sent, framed.size() - sent, MSG_NOSIGNAL);
      if (n < 0 && errno != EAGAIN && errno != EINTR) return fail(out, where + "send: " + std::strerror(errno));
      if (n > 0) sent += static_cast<std::size_t>(n);
    }

    std::set<wg::Key> seen;
    int soas = 0;
    while (soas < 2) {
      if (out.messages >= limits.max_messages) return fail(out, where + "more than " + std::to_string(limits.max_messages) + " messages: abandoned");
      deadline = std::min(end, Clock::now() + limits.message_timeout);
      std::uint8_t prefix[2];
      if (!read_exact(fd.get(), prefix, 2, stop_fd, deadline, why)) {
        return fail(out, where + why + (Clock::now() >= end ? " (the whole transfer may take " + std::to_string(limits.total.count()) + " ms)" : ""));
      }
      const std::size_t size = (std::size_t{prefix[0]} << 8) | prefix[1];
      if (out.bytes + size > limits.max_bytes) return fail(out, where + "more than " + std::to_string(limits.max_bytes) + " bytes: abandoned");
      std::vector<std::uint8_t> msg(size);
      if (!read_exact(fd.get(), msg.data(), size, stop_fd, deadline, why)) return fail(out, where + why);
      out.bytes += size;
      ++out.messages;
      // Our ID and QR; the question, when a message repeats it, must be ours.
      if (size < dns::header_size || dns::get_u16(msg.data()) != id || (msg[2] & 0x80) == 0) {
        return fail(out, where + "message " + std::to_string(out.messages) + " does not answer our query");
      }
      if (dns::get_u16(msg.data() + 4) != 0 && !reply_matches(query, msg.data(), msg.size(), false)) {
        return fail(out, where + "message " + std::to_string(out.messages) + " repeats another question");
      }
      const std::uint16_t rcode = msg[3] & 0x0f;
      std::string tsig_problem;
      if (key != nullptr) {
        tsig_problem = check_reply_tsig(msg, *key, mac, static_cast<std::uint64_t>(std::time(nullptr)), out.messages > 1);
        if (tsig_problem.empty()) {
          std::size_t owner = 0;
          dns::tsig::locate(msg, owner);
          const auto rec = dns::tsig::read_record(msg, owner);
          const auto m = dns::tsig::mac_of(msg, *rec);
          mac.assign(m.begin(), m.end());
        }
      }
      if (out.messages == 1 && (rcode == rcode_refused || rcode == rcode_notauth || rcode == rcode_notimp)) {
        out.result = AxfrListing::Result::refused;
        out.error = where + "the registry answered " + dns::rcode_name(rcode) + (tsig_problem.empty() ? "" : " (" + tsig_problem + ")");
        return out;
      }
      if (!tsig_problem.empty()) return fail(out, where + "message " + std::to_string(out.messages) + ": " + tsig_problem);
      if (rcode != 0) return fail(out, where + "message " + std::to_string(out.messages) + ": the registry answered " + dns::rcode_name(rcode));
      const int n = answer_soas(msg);
      if (n < 0) return fail(out, where + "message " + std::to_string(out.messages) + " is malformed");
      if (out.messages == 1 && n == 0) return fail(out, where + "the first message does not start with the zone's SOA");
      soas += n;
      const auto ptr = read_ptr_reply(msg, service);
      out.ignored += ptr.ignored;
      for (const auto& k : ptr.keys) {
        if (seen.insert(k).second) out.keys.push_back(k);
      }
    }
    out.result = AxfrListing::Result::done;
    return out;
  } catch (const std::exception& e) {
    return fail(out, where + e.what());
  }
}

}  // namespace wgsd::client
