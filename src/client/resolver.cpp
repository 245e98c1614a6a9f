#include "client/resolver.hpp"

#include <netinet/in.h>
#include <poll.h>
#include <sodium.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "dns/wire.hpp"
#include "wg/unique_fd.hpp"

namespace wgsd::client {
namespace {

using SteadyClock = std::chrono::steady_clock;
constexpr std::size_t max_udp_reply = 65535;

char lower(std::uint8_t c) { return static_cast<char>((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c); }

// Waits for `events` until the deadline, in slices so a stop request is seen within 100 ms.
bool wait(int fd, short events, SteadyClock::time_point deadline, const std::atomic<bool>* stop) {
  for (;;) {
    if (stop != nullptr && stop->load()) throw LookupError("stopped");
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, events, 0};
    const int r = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 100)));
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) throw LookupError(std::string("poll: ") + std::strerror(errno));
  }
}

}  // namespace

std::vector<std::uint8_t> build_query(const std::string& qname, std::uint16_t qtype, std::uint16_t& id) {
  auto wire = dns::name_to_wire(qname);
  if (!wire) throw LookupError("invalid name '" + qname + "'");
  id = static_cast<std::uint16_t>(randombytes_uniform(65536));
  std::string q;
  dns::put_u16(q, id);
  dns::put_u16(q, 0x0100);  // RD
  dns::put_u16(q, 1);
  dns::put_u16(q, 0);
  dns::put_u16(q, 0);
  dns::put_u16(q, 1);
  // Keep the name's case as given: the registry echoes it, and we compare without case.
  std::string asked;
  std::size_t pos = 0;
  std::string_view text = qname;
  if (!text.empty() && text.back() == '.') text.remove_suffix(1);
  for (std::size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == '.') {
      asked.push_back(static_cast<char>(i - pos));
      asked.append(text.substr(pos, i - pos));
      pos = i + 1;
    }
  }
  asked.push_back('\0');
  q += asked;
  dns::put_u16(q, qtype);
  dns::put_u16(q, dns::class_in);
  // OPT: root, type 41, payload 1232, no extended rcode, version 0, no flags, no options.
  q.push_back('\0');
  dns::put_u16(q, dns::type::opt);
  dns::put_u16(q, 1232);
  dns::put_u32(q, 0);
  dns::put_u16(q, 0);
  return {q.begin(), q.end()};
}

bool reply_matches(const std::vector<std::uint8_t>& query, const std::uint8_t* reply, std::size_t size) {
  if (size < dns::header_size || query.size() < dns::header_size) return false;
  if (reply[0] != query[0] || reply[1] != query[1] || (reply[2] & 0x80) == 0) return false;
  if (reply[4] != 0 || reply[5] != 1) return false;
  const std::size_t qlen = dns::uncompressed_name_length({query.data() + dns::header_size, query.size() - dns::header_size});
  const std::size_t question = qlen + 4;
  if (size < dns::header_size + question) return false;
  for (std::size_t i = 0; i < question; ++i) {
    if (lower(reply[dns::header_size + i]) != lower(query[dns::header_size + i])) return false;
  }
  return true;
}

std::vector<std::uint8_t> Resolver::query(const std::string& qname, std::uint16_t qtype) const {
  std::uint16_t id = 0;
  const auto q = build_query(qname, qtype, id);
  auto reply = udp(q);
  if ((reply[2] & 0x02) != 0) reply = tcp(q);  // TC: the whole answer over TCP (RFC 7766)
  return reply;
}

std::vector<std::uint8_t> Resolver::udp(const std::vector<std::uint8_t>& query) const {
  sockaddr_storage server{};
  const auto server_len = server_.to_sockaddr(server);
  wg::UniqueFd fd(::socket(server.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) throw LookupError(std::string("socket: ") + std::strerror(errno));
  std::vector<std::uint8_t> buf(max_udp_reply);
  std::string last_error = "no reply";
  for (unsigned attempt = 0; attempt <= options_.retries; ++attempt) {
    if (::sendto(fd.get(), query.data(), query.size(), 0, reinterpret_cast<sockaddr*>(&server), static_cast<socklen_t>(server_len)) < 0) {
      last_error = std::string("send to ") + server_.to_string() + ": " + std::strerror(errno);
      continue;
    }
    const auto deadline = SteadyClock::now() + options_.timeout;
    while (wait(fd.get(), POLLIN, deadline, options_.stop)) {
      sockaddr_storage from{};
      socklen_t from_len = sizeof from;
      const ssize_t n = ::recvfrom(fd.get(), buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &from_len);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) continue;
        last_error = std::string("receive from ") + server_.to_string() + ": " + std::strerror(errno);  // e.g. ICMP port unreachable
        break;
      }
      // Anything not from the server, not ours, or not about our question is ignored: it may be spoofed.
      const auto source = wg::Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&from), from_len);
      if (!source || !(source->address.unmapped() == server_.address.unmapped() && source->port == server_.port)) continue;
      if (!reply_matches(query, buf.data(), static_cast<std::size_t>(n))) continue;
      buf.resize(static_cast<std::size_t>(n));
      return buf;
    }
    if (last_error == "no reply") last_error = "no reply from " + server_.to_string();
  }
  throw LookupError(last_error + " after " + std::to_string(options_.retries + 1) + " attempts");
}

std::vector<std::uint8_t> Resolver::tcp(const std::vector<std::uint8_t>& query) const {
  sockaddr_storage server{};
  const auto server_len = server_.to_sockaddr(server);
  const std::string where = "TCP " + server_.to_string();
  wg::UniqueFd fd(::socket(server.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) throw LookupError(std::string("socket: ") + std::strerror(errno));
  const auto deadline = SteadyClock::now() + options_.timeout;
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&server), static_cast<socklen_t>(server_len)) != 0 && errno != EINPROGRESS) {
    throw LookupError(where + ": " + std::strerror(errno));
  }
  if (!wait(fd.get(), POLLOUT, deadline, options_.stop)) throw LookupError(where + ": connect timed out");
  int err = 0;
  socklen_t err_len = sizeof err;
  ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &err_len);
  if (err != 0) throw LookupError(where + ": " + std::strerror(err));
  std::vector<std::uint8_t> out = {static_cast<std::uint8_t>(query.size() >> 8), static_cast<std::uint8_t>(query.size() & 0xff)};
  out.insert(out.end(), query.begin(), query.end());
  for (std::size_t sent = 0; sent < out.size();) {
    if (!wait(fd.get(), POLLOUT, deadline, options_.stop)) throw LookupError(where + ": send timed out");
    const ssize_t n = ::send(fd.get(), out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      throw LookupError(where + ": " + std::strerror(errno));
    }
    sent += static_cast<std::size_t>(n);
  }
  std::vector<std::uint8_t> in;
  std::uint8_t buf[16384];
  for (;;) {
    if (in.size() >= 2) {
      const std::size_t len = (static_cast<std::size_t>(in[0]) << 8) | in[1];
      if (in.size() >= 2 + len) {
        std::vector<std::uint8_t> reply(in.begin() + 2, in.begin() + 2 + static_cast<std::ptrdiff_t>(len));
        if (!reply_matches(query, reply.data(), reply.size())) throw LookupError(where + ": reply does not match the query");
        return reply;
      }
    }
    if (!wait(fd.get(), POLLIN, deadline, options_.stop)) throw LookupError(where + ": no reply in time");
    const ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      throw LookupError(where + ": " + std::strerror(errno));
    }
    if (n == 0) throw LookupError(where + ": connection closed before a whole reply");
    in.insert(in.end(), buf, buf + n);
  }
}

}  // namespace wgsd::client
