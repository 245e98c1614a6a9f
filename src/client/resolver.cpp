#include "client/resolver.hpp"

#include <netinet/in.h>
#include <sodium.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <stdexcept>

#include "dns/wire.hpp"

namespace wgsd::client {
namespace {

constexpr std::size_t max_udp_reply = 65535;
// After an ICMP error (port unreachable), the wait before the next attempt: a registry that is
// restarting gets a moment to come up instead of every retry being spent at once.
constexpr std::chrono::milliseconds retry_pause{200};

std::string errno_text(int err) { return std::strerror(err); }

}  // namespace

std::vector<std::uint8_t> build_query(const std::string& qname, std::uint16_t qtype, std::uint16_t& id, bool random_case) {
  auto wire = dns::name_to_wire(qname);
  if (!wire) throw std::runtime_error("invalid name '" + qname + "'");
  id = static_cast<std::uint16_t>(randombytes_uniform(65536));
  std::string q;
  dns::put_u16(q, id);
  dns::put_u16(q, 0x0100);  // RD
  dns::put_u16(q, 1);
  dns::put_u16(q, 0);
  dns::put_u16(q, 0);
  dns::put_u16(q, 1);
  // 0x20: every letter in a random case. The registry echoes the question as asked, so a forger
  // must guess one bit per letter on top of the ID and the port.
  std::string name = *wire;
  std::vector<std::uint8_t> bits(name.size());
  randombytes_buf(bits.data(), bits.size());
  for (std::size_t i = 0, label = 0; i < name.size(); ++i) {
    if (i == label) {  // a length octet
      label += 1 + static_cast<std::uint8_t>(name[i]);
      continue;
    }
    const char c = name[i];
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (letter && random_case) name[i] = static_cast<char>((bits[i] & 1) != 0 ? (c | 0x20) : (c & ~0x20));
  }
  q += name;
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

std::vector<std::uint8_t> sign_query(std::vector<std::uint8_t>& query, const dns::tsig::Key& key, std::uint64_t now) {
  const std::size_t length = query.size();
  query.resize(length + dns::tsig::record_size(key.name.size(), key.algorithm, false, 0));
  dns::tsig::SignParams p;
  p.time_signed = now;
  p.original_id = dns::get_u16(query.data());
  query.resize(dns::tsig::sign(query, length, key, p));
  std::size_t owner = 0;
  dns::tsig::locate(query, owner);
  const auto rec = dns::tsig::read_record(query, owner);
  const auto mac = dns::tsig::mac_of(query, *rec);
  return {mac.begin(), mac.end()};
}

std::string check_reply_tsig(const std::vector<std::uint8_t>& reply, const dns::tsig::Key& key,
                             const std::vector<std::uint8_t>& request_mac, std::uint64_t now, bool later_message) {
  std::size_t owner = 0;
  const auto found = dns::tsig::locate(reply, owner);
  if (found == dns::tsig::Found::none) return "the answer is not signed (TSIG): refused";
  const auto rec = found == dns::tsig::Found::last ? dns::tsig::read_record(reply, owner) : std::nullopt;
  if (!rec) return "the answer's TSIG record is malformed: refused";
  const std::string key_name = dns::wire_to_text({reinterpret_cast<const std::uint8_t*>(key.name.data()), key.name.size()});
  const bool unsigned_error = rec->mac_length == 0 && rec->error != 0;
  if (rec->mac_length == 0 && rec->error == 0) return "the answer is not signed (TSIG): refused";
  switch (dns::tsig::verify_response(reply, *rec, key, request_mac, now, later_message)) {
    case dns::tsig::Check::ok: return "";
    case dns::tsig::Check::formerr: return "the answer's TSIG MAC is longer or shorter than its algorithm allows: refused";
    case dns::tsig::Check::badkey:
      if (unsigned_error) return "the registry does not know TSIG key " + key_name + " with algorithm " + std::string(dns::tsig::algorithm_name(key.algorithm)) + " (BADKEY)";
      return "the answer is signed with another key than " + key_name + ": refused";
    case dns::tsig::Check::badsig:
      if (unsigned_error) return "the registry could not verify our TSIG signature with key " + key_name + " (BADSIG): is the secret the same?";
      return "the answer's TSIG signature does not verify with key " + key_name + " (BADSIG): refused";
    case dns::tsig::Check::badtrunc:
      if (unsigned_error) return "the registry refused our TSIG MAC as too short (BADTRUNC)";
      return "the answer's TSIG MAC is cut too short (BADTRUNC): refused";
    case dns::tsig::Check::badtime: {
      if (rec->error == dns::tsig::badtime && rec->other_length == 6) {
        std::uint64_t theirs = 0;
        for (std::size_t i = 0; i < 6; ++i) theirs = (theirs << 8) | reply[rec->other_offset + i];
        const auto skew = static_cast<long long>(theirs) - static_cast<long long>(now);
        return "the registry refused the query's time (BADTIME): its clock is " + std::to_string(skew < 0 ? -skew : skew) + " s " +
               (skew < 0 ? "behind" : "ahead of") + " ours";
      }
      const auto skew = static_cast<long long>(rec->time_signed) - static_cast<long long>(now);
      return "the answer's TSIG time is " + std::to_string(skew < 0 ? -skew : skew) + " s " + (skew < 0 ? "old" : "in the future") +
             ", outside its fudge of " + std::to_string(rec->fudge) + " s (BADTIME; clock skew or a replay): refused";
    }
  }
  return "the answer's TSIG does not verify: refused";
}

bool reply_matches(const std::vector<std::uint8_t>& query, const std::uint8_t* reply, std::size_t size, bool exact_case) {
  if (size < dns::header_size || query.size() < dns::header_size) return false;
  if (reply[0] != query[0] || reply[1] != query[1] || (reply[2] & 0x80) == 0) return false;
  if (reply[4] != 0 || reply[5] != 1) return false;
  const std::size_t qlen = dns::uncompressed_name_length({query.data() + dns::header_size, query.size() - dns::header_size});
  const std::size_t question = qlen + 4;
  if (size < dns::header_size + question) return false;
  const std::uint8_t* ours = query.data() + dns::header_size;
  const std::uint8_t* theirs = reply + dns::header_size;
  if (exact_case) return std::memcmp(theirs, ours, question) == 0;
  // Length octets are at most 63, below 'A': folding every byte of the name folds only its letters.
  const auto fold = [](std::uint8_t c) { return c >= 'A' && c <= 'Z' ? static_cast<std::uint8_t>(c | 0x20) : c; };
  for (std::size_t i = 0; i < qlen; ++i) {
    if (fold(theirs[i]) != fold(ours[i])) return false;
  }
  return std::memcmp(theirs + qlen, ours + qlen, 4) == 0;  // type and class
}

Exchange::Exchange(wg::Endpoint server, const std::string& qname, std::uint16_t qtype, ResolverOptions options)
    : server_(server), options_(options) {
  std::uint16_t id = 0;
  query_ = build_query(qname, qtype, id);
  if (options_.key != nullptr) request_mac_ = sign_query(query_, *options_.key, static_cast<std::uint64_t>(std::time(nullptr)));
}

void Exchange::accept(std::vector<std::uint8_t> reply) {
  if (options_.key != nullptr) {
    const std::string wrong = check_reply_tsig(reply, *options_.key, request_mac_, static_cast<std::uint64_t>(std::time(nullptr)));
    if (!wrong.empty()) return fail(wrong);  // the registry's address is put before it by the caller
  }
  reply_ = std::move(reply);
  state_ = State::done;
  fd_.reset();
}

void Exchange::fail(std::string why) {
  state_ = State::failed;
  error_ = case_lost_ ? "registry " + server_.to_string() + " did not keep the case of the question (0x20), and over TCP: " + why : std::move(why);
  fd_.reset();
}

void Exchange::start(SteadyClock::time_point now) {
  state_ = State::running;
  if (options_.tcp) return start_tcp(now);
  sockaddr_storage server{};
  const auto server_len = server_.to_sockaddr(server);
  fd_.reset(::socket(server.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd_) return fail("socket: " + errno_text(errno));
  // Connected: the kernel drops datagrams from anyone else, and an ICMP error (port unreachable)
  // is reported to us instead of leaving the attempt to time out.
  if (::connect(fd_.get(), reinterpret_cast<sockaddr*>(&server), static_cast<socklen_t>(server_len)) != 0) {
    return fail("connect to " + server_.to_string() + ": " + errno_text(errno));
  }
  last_error_ = "no reply from " + server_.to_string();
  udp_attempt(now);
}

void Exchange::udp_attempt(SteadyClock::time_point now) {
  deadline_ = now + options_.timeout;
  if (::send(fd_.get(), query_.data(), query_.size(), 0) < 0) {
    last_error_ = "send to " + server_.to_string() + ": " + errno_text(errno);
    pause_then_retry(now);
  }
}

void Exchange::pause_then_retry(SteadyClock::time_point now) {
  if (attempt_ >= options_.retries) return next_attempt(now);  // the last attempt: fail now
  deadline_ = std::min(deadline_, now + retry_pause);           // on_deadline() sends the next
}

void Exchange::next_attempt(SteadyClock::time_point now) {
  if (++attempt_ > options_.retries) {
    return fail(last_error_ + " after " + std::to_string(options_.retries + 1) + " attempts");
  }
  udp_attempt(now);
}

void Exchange::on_deadline(SteadyClock::time_point now) {
  if (state_ != State::running || now < deadline_) return;
  if (phase_ == Phase::udp) return next_attempt(now);
  fail("TCP " + server_.to_string() + ": " + (phase_ == Phase::tcp_connect ? "connect timed out" : "no reply in time"));
}

void Exchange::on_ready(short revents, SteadyClock::time_point now) {
  if (state_ != State::running || revents == 0) return;
  if (phase_ == Phase::udp) return read_udp(now);
  advance_tcp();
}

void Exchange::read_udp(SteadyClock::time_point now) {
  std::vector<std::uint8_t> buf(max_udp_reply);
  for (;;) {
    const ssize_t n = ::recv(fd_.get(), buf.data(), buf.size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (case_lost_) return start_tcp(now);  // nothing in the right case came with it
        return;                                 // keep waiting
      }
      // ICMP port or host unreachable and the like: this attempt is over now, not at its timeout.
      last_error_ = "receive from " + server_.to_string() + ": " + errno_text(errno);
      return pause_then_retry(now);
    }
    const auto size = static_cast<std::size_t>(n);
    if (!reply_matches(query_, buf.data(), size)) {
      // Ours but for the case: a resolver that answers in the case it cached (or a forger who
      // missed the case). TCP settles it, out of an off-path forger's reach.
      // What else has arrived is read first: the real reply may be queued behind a forged one.
      if (reply_matches(query_, buf.data(), size, false)) case_lost_ = true;
      continue;  // not ours, not about our question: ignored, it may be spoofed
    }
    buf.resize(static_cast<std::size_t>(n));
    if ((buf[2] & 0x02) != 0) return start_tcp(now);  // TC: the whole answer over TCP (RFC 7766)
    return accept(std::move(buf));
  }
}

void Exchange::start_tcp(SteadyClock::time_point now) {
  sockaddr_storage server{};
  const auto server_len = server_.to_sockaddr(server);
  const std::string where = "TCP " + server_.to_string();
  fd_.reset(::socket(server.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd_) return fail("socket: " + errno_text(errno));
  deadline_ = now + options_.timeout;
  out_ = {static_cast<std::uint8_t>(query_.size() >> 8), static_cast<std::uint8_t>(query_.size() & 0xff)};
  out_.insert(out_.end(), query_.begin(), query_.end());
  phase_ = Phase::tcp_connect;
  if (::connect(fd_.get(), reinterpret_cast<sockaddr*>(&server), static_cast<socklen_t>(server_len)) != 0 && errno != EINPROGRESS) {
    return fail(where + ": " + errno_text(errno));
  }
}

void Exchange::advance_tcp() {
  const std::string where = "TCP " + server_.to_string();
  if (phase_ == Phase::tcp_connect) {
    int err = 0;
    socklen_t err_len = sizeof err;
    if (::getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &err, &err_len) != 0) err = errno;
    if (err == EINPROGRESS) return;
    if (err != 0) return fail(where + ": " + errno_text(err));
    phase_ = Phase::tcp_send;
  }
  if (phase_ == Phase::tcp_send) {
    while (sent_ < out_.size()) {
      const ssize_t n = ::send(fd_.get(), out_.data() + sent_, out_.size() - sent_, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
        return fail(where + ": " + errno_text(errno));
      }
      sent_ += static_cast<std::size_t>(n);
    }
    phase_ = Phase::tcp_receive;
    return;  // wait for POLLIN
  }
  std::uint8_t buf[16384];
  for (;;) {
    if (in_.size() >= 2) {
      const std::size_t len = (static_cast<std::size_t>(in_[0]) << 8) | in_[1];
      if (in_.size() >= 2 + len) {
        std::vector<std::uint8_t> reply(in_.begin() + 2, in_.begin() + 2 + static_cast<std::ptrdiff_t>(len));
        if (!reply_matches(query_, reply.data(), reply.size(), !case_lost_)) return fail(where + ": reply does not match the query");
        return accept(std::move(reply));
      }
    }
    const ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
      return fail(where + ": " + errno_text(errno));
    }
    if (n == 0) return fail(where + ": connection closed before a whole reply");
    in_.insert(in_.end(), buf, buf + n);
  }
}

}  // namespace wgsd::client
