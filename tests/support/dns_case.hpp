// Building queries and reading responses with ldns, so tests check wgsd against an independent codec.
#pragma once

#include <arpa/inet.h>
#include <ldns/ldns.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace wgsd::test {

/// 127.0.0.1:port, to send a query to or connect to.
inline sockaddr_in loopback_address(std::uint16_t port) {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return sin;
}

struct PktDeleter {
  void operator()(ldns_pkt* p) const noexcept { ldns_pkt_free(p); }
};
using PktPtr = std::unique_ptr<ldns_pkt, PktDeleter>;

struct QueryOptions {
  bool edns = false;
  std::uint16_t udp_size = 1232;
  bool rd = false;
  bool dnssec_ok = false;
  std::uint16_t id = 0x1234;
  std::uint16_t qclass = LDNS_RR_CLASS_IN;
};

inline std::vector<std::uint8_t> make_query(const std::string& name, ldns_rr_type type, const QueryOptions& o = {}) {
  ldns_rdf* dname = ldns_dname_new_frm_str(name.c_str());
  if (dname == nullptr) throw std::invalid_argument("bad name " + name);
  PktPtr pkt(ldns_pkt_query_new(dname, type, static_cast<ldns_rr_class>(o.qclass), o.rd ? LDNS_RD : 0));
  ldns_pkt_set_id(pkt.get(), o.id);
  if (o.edns) {
    ldns_pkt_set_edns_udp_size(pkt.get(), o.udp_size);
    ldns_pkt_set_edns_do(pkt.get(), o.dnssec_ok);
  }
  std::uint8_t* wire = nullptr;
  std::size_t size = 0;
  if (ldns_pkt2wire(&wire, pkt.get(), &size) != LDNS_STATUS_OK) throw std::runtime_error("ldns_pkt2wire failed");
  std::vector<std::uint8_t> out(wire, wire + size);
  std::free(wire);
  return out;
}

inline PktPtr parse_response(const std::vector<std::uint8_t>& wire) {
  ldns_pkt* pkt = nullptr;
  if (wire.empty() || ldns_wire2pkt(&pkt, wire.data(), wire.size()) != LDNS_STATUS_OK) return nullptr;
  return PktPtr(pkt);
}

inline std::string rr_text(const ldns_rr* rr) {
  char* s = ldns_rr2str(rr);
  std::string out = s != nullptr ? s : "";
  std::free(s);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return c == '\t' ? ' ' : static_cast<char>(std::tolower(c)); });
  return out;
}

/// Zone-file text normalised through ldns, lower case, for comparison with rr_text.
inline std::string rr(const std::string& text) {
  ldns_rr* r = nullptr;
  if (ldns_rr_new_frm_str(&r, text.c_str(), 0, nullptr, nullptr) != LDNS_STATUS_OK) throw std::invalid_argument("bad RR text " + text);
  std::string out = rr_text(r);
  ldns_rr_free(r);
  return out;
}

/// The RRs of one section as normalised text, in wire order.
inline std::vector<std::string> section(const ldns_pkt* pkt, ldns_pkt_section which) {
  std::vector<std::string> out;
  ldns_rr_list* list = nullptr;
  switch (which) {
    case LDNS_SECTION_ANSWER: list = ldns_pkt_answer(pkt); break;
    case LDNS_SECTION_AUTHORITY: list = ldns_pkt_authority(pkt); break;
    case LDNS_SECTION_ADDITIONAL: list = ldns_pkt_additional(pkt); break;
    default: break;
  }
  for (std::size_t i = 0; list != nullptr && i < ldns_rr_list_rr_count(list); ++i) out.push_back(rr_text(ldns_rr_list_rr(list, i)));
  return out;
}

inline std::vector<std::string> rrs(std::initializer_list<std::string> texts) {
  std::vector<std::string> out;
  for (const auto& t : texts) out.push_back(rr(t));
  return out;
}

/// A DNS message with the two-byte length TCP puts before it (RFC 1035 §4.2.2).
inline std::vector<std::uint8_t> framed(const std::vector<std::uint8_t>& q) {
  std::vector<std::uint8_t> out(q.size() + 2);
  out[0] = static_cast<std::uint8_t>(q.size() >> 8);
  out[1] = static_cast<std::uint8_t>(q.size() & 0xff);
  std::copy(q.begin(), q.end(), out.begin() + 2);
  return out;
}

/// Reads one length-prefixed message from a TCP socket; empty on EOF, error or timeout.
inline std::vector<std::uint8_t> read_message(int fd) {
  std::uint8_t len[2];
  if (::recv(fd, len, 2, MSG_WAITALL) != 2) return {};
  std::vector<std::uint8_t> m((len[0] << 8) | len[1]);
  if (::recv(fd, m.data(), m.size(), MSG_WAITALL) != static_cast<ssize_t>(m.size())) return {};
  return m;
}

}  // namespace wgsd::test
