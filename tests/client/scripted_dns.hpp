// A DNS server on loopback that answers from a script, to make the client meet every misbehaviour.
#pragma once

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <stdexcept>
#include <mutex>
#include <thread>
#include <vector>

#include "support/dns_case.hpp"

namespace wgsd::test {

class ScriptedDns {
public:
  struct Send {
    std::vector<std::uint8_t> bytes;
    bool from_other_socket{};   ///< send from another port: a reply from the wrong address
    bool split_tcp_prefix{};    ///< over TCP: the length prefix's first byte alone, then the rest
  };
  /// Called per query with (query, over_tcp, count so far); returns what to send back (maybe nothing).
  using Script = std::function<std::vector<Send>(const std::vector<std::uint8_t>&, bool, unsigned)>;

  /// On `port` (a free one if 0) of `address` (host order; another 127.0.0.0/8 address for a
  /// test that tells registries apart by address).
  explicit ScriptedDns(Script script, std::uint16_t port = 0, std::uint32_t address = INADDR_LOOPBACK) : script_(std::move(script)) {
    // UDP and TCP on one port: a free UDP port may be taken for TCP (another test's connection
    // uses it as its local port), so a pair that does not bind together is tried again.
    for (int attempt = 0; attempt < 50 && tcp_ < 0; ++attempt) {
      udp_ = bind_socket(SOCK_DGRAM, port, address);
      if (udp_ < 0) break;
      port_ = local_port(udp_);
      tcp_ = bind_socket(SOCK_STREAM, port_, address);
      if (tcp_ < 0 || ::listen(tcp_, 8) != 0) {
        if (tcp_ >= 0) ::close(tcp_);
        tcp_ = -1;
        ::close(udp_);
        udp_ = -1;
        if (port != 0) break;  // a port asked for: no other to try
      }
    }
    if (udp_ < 0 || tcp_ < 0) throw std::runtime_error("scripted DNS: cannot bind UDP and TCP on one port of 127.0.0.0/8");
    other_ = bind_socket(SOCK_DGRAM, 0, address);
    thread_ = std::thread([this] { run(); });
  }
  ~ScriptedDns() {
    stop_ = true;
    thread_.join();
    ::close(udp_);
    ::close(tcp_);
    ::close(other_);
  }
  std::uint16_t port() const { return port_; }
  unsigned queries() const { return count_; }
  std::vector<std::vector<std::uint8_t>> received() const {
    std::lock_guard lock(mutex_);
    return received_;
  }

private:
  static int bind_socket(int type, std::uint16_t port, std::uint32_t address) {
    const int fd = ::socket(AF_INET, type, 0);
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(address);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0) {
      ::close(fd);
      return -1;
    }
    return fd;
  }
  static std::uint16_t local_port(int fd) {
    sockaddr_in sin{};
    socklen_t len = sizeof sin;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len);
    return ntohs(sin.sin_port);
  }
  std::vector<Send> call(const std::vector<std::uint8_t>& q, bool tcp) {
    {
      std::lock_guard lock(mutex_);
      received_.push_back(q);
    }
    return script_(q, tcp, ++count_);
  }
  void run() {
    while (!stop_) {
      pollfd p[2] = {{udp_, POLLIN, 0}, {tcp_, POLLIN, 0}};
      if (::poll(p, 2, 50) <= 0) continue;
      if (p[0].revents & POLLIN) {
        std::vector<std::uint8_t> buf(65535);
        sockaddr_storage from{};
        socklen_t len = sizeof from;
        const ssize_t n = ::recvfrom(udp_, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &len);
        if (n > 0) {
          buf.resize(static_cast<std::size_t>(n));
          for (const auto& s : call(buf, false)) {
            ::sendto(s.from_other_socket ? other_ : udp_, s.bytes.data(), s.bytes.size(), 0, reinterpret_cast<sockaddr*>(&from), len);
          }
        }
      }
      if (p[1].revents & POLLIN) {
        const int c = ::accept(tcp_, nullptr, nullptr);
        std::uint8_t lenbuf[2];
        if (c >= 0 && ::recv(c, lenbuf, 2, MSG_WAITALL) == 2) {
          std::vector<std::uint8_t> q((lenbuf[0] << 8) | lenbuf[1]);
          if (::recv(c, q.data(), q.size(), MSG_WAITALL) == static_cast<ssize_t>(q.size())) {
            for (const auto& s : call(q, true)) {
              const std::uint8_t l[2] = {static_cast<std::uint8_t>(s.bytes.size() >> 8), static_cast<std::uint8_t>(s.bytes.size() & 0xff)};
              if (s.split_tcp_prefix) {
                (void)::send(c, l, 1, MSG_NOSIGNAL);
                std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the reader sees one byte alone
                (void)::send(c, l + 1, 1, MSG_NOSIGNAL);
              } else {
                (void)::send(c, l, 2, MSG_NOSIGNAL);
              }
              (void)::send(c, s.bytes.data(), s.bytes.size(), MSG_NOSIGNAL);
            }
          }
        }
        if (c >= 0) ::close(c);
      }
    }
  }

  Script script_;
  int udp_{-1}, tcp_{-1}, other_{-1};
  std::uint16_t port_{};
  std::atomic<bool> stop_{false};
  std::atomic<unsigned> count_{0};
  mutable std::mutex mutex_;
  std::vector<std::vector<std::uint8_t>> received_;
  std::thread thread_;
};

/// A reply to `query` with the given records (zone-file text) in answer and additional.
inline std::vector<std::uint8_t> reply_to(const std::vector<std::uint8_t>& query, ldns_pkt_rcode rcode,
                                          const std::vector<std::string>& answer, const std::vector<std::string>& additional = {},
                                          bool tc = false) {
  ldns_pkt* q = nullptr;
  if (ldns_wire2pkt(&q, query.data(), query.size()) != LDNS_STATUS_OK) throw std::runtime_error("bad query");
  PktPtr pkt(ldns_pkt_new());
  ldns_pkt_set_id(pkt.get(), ldns_pkt_id(q));
  ldns_pkt_set_qr(pkt.get(), true);
  ldns_pkt_set_aa(pkt.get(), true);
  ldns_pkt_set_tc(pkt.get(), tc);
  ldns_pkt_set_rcode(pkt.get(), static_cast<std::uint8_t>(rcode));
  ldns_pkt_push_rr(pkt.get(), LDNS_SECTION_QUESTION, ldns_rr_clone(ldns_rr_list_rr(ldns_pkt_question(q), 0)));
  ldns_pkt_free(q);
  auto push = [&](ldns_pkt_section section, const std::string& text) {
    ldns_rr* rr = nullptr;
    if (ldns_rr_new_frm_str(&rr, text.c_str(), 0, nullptr, nullptr) != LDNS_STATUS_OK) throw std::runtime_error("bad rr " + text);
    ldns_pkt_push_rr(pkt.get(), section, rr);
  };
  for (const auto& a : answer) push(LDNS_SECTION_ANSWER, a);
  for (const auto& a : additional) push(LDNS_SECTION_ADDITIONAL, a);
  std::uint8_t* wire = nullptr;
  std::size_t size = 0;
  ldns_pkt2wire(&wire, pkt.get(), &size);
  std::vector<std::uint8_t> out(wire, wire + size);
  std::free(wire);
  return out;
}

/// The question name of a query, as text.
inline std::string qname_of(const std::vector<std::uint8_t>& query) {
  ldns_pkt* q = nullptr;
  if (ldns_wire2pkt(&q, query.data(), query.size()) != LDNS_STATUS_OK) return "";
  char* s = ldns_rdf2str(ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_question(q), 0)));
  std::string out = s;
  std::free(s);
  ldns_pkt_free(q);
  return out;
}

inline std::uint16_t qtype_of(const std::vector<std::uint8_t>& query) {
  ldns_pkt* q = nullptr;
  if (ldns_wire2pkt(&q, query.data(), query.size()) != LDNS_STATUS_OK) return 0;
  const auto t = ldns_rr_get_type(ldns_rr_list_rr(ldns_pkt_question(q), 0));
  ldns_pkt_free(q);
  return static_cast<std::uint16_t>(t);
}

}  // namespace wgsd::test
