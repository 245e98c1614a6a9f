#include "server/query_log.hpp"

#include <cstdio>

#include "dns/wire.hpp"

namespace wgsd::server {

std::string log_name(std::span<const std::uint8_t> wire) {
  // dns::wire_to_text escapes all but the quote, which would end the log's quoted field.
  const std::string text = dns::wire_to_text(wire);
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    if (c == '"') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

std::string format_query(const wg::Endpoint& remote, std::span<const std::uint8_t> query, const dns::ResponseInfo& info,
                         dns::Transport transport, std::chrono::nanoseconds duration) {
  std::string name = "-";
  std::string qtype = "-";
  std::string qclass = "-";
  if (info.has_question) {
    name = log_name(query.subspan(info.qname_offset, info.qname_length));
    qtype = dns::type_name(info.qtype);
    qclass = dns::class_name(info.qclass);
  }
  std::string flags = "qr";
  if (info.authoritative) flags += ",aa";
  if (info.truncated) flags += ",tc";
  if (info.rd) flags += ",rd";
  char secs[32];
  std::snprintf(secs, sizeof secs, "%.9fs", static_cast<double>(duration.count()) / 1e9);
  return remote.to_string() + " - " + std::to_string(info.id) + " \"" + qtype + " " + qclass + " " + name + " " +
         (transport == dns::Transport::udp ? "udp" : "tcp") + " " + std::to_string(query.size()) + " " + (info.dnssec_ok ? "true" : "false") +
         " " + std::to_string(info.udp_size) + "\" " + dns::rcode_name(info.rcode) + " " + flags + " " + std::to_string(info.size) + " " + secs;
}

}  // namespace wgsd::server
