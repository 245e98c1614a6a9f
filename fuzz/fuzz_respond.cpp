// respond(): any bytes as a query, over UDP and TCP, against a snapshot with peers. Beyond "no
// crash", it checks what docs/records.md promises of every reply. prefetch() sees the same bytes first,
// alone and in a batch with a valid query, as a UDP worker hands it a recvmmsg batch. ldns must
// parse every reply; one zone's names are 255 octets long.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "dns/responder.hpp"
#include "fuzz_zone.hpp"

// Last: ldns's headers break libstdc++'s under clang when they come first (as src/client/reply.cpp).
#include <ldns/ldns.h>

using namespace wgsd;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const dns::ZoneSet zones = fuzz::zones();
  static std::vector<std::uint8_t> out(dns::max_message);
  const std::span<const std::uint8_t> query(data, size);
  static const std::vector<std::uint8_t> valid = fuzz::srv_query();
  const std::span<const std::uint8_t> batch[] = {valid, query, query};
  dns::prefetch(std::span(batch).subspan(1, 1), zones);
  dns::prefetch(batch, zones);
  for (auto transport : {dns::Transport::udp, dns::Transport::tcp}) {
    dns::ResponseInfo info;
    const dns::QueryContext ctx{transport, wg::IpAddress::parse(transport == dns::Transport::udp ? "192.0.2.1" : "2001:db8::1")};
    const std::size_t n = dns::respond(query, zones, ctx, out, &info);
    if (n == 0) continue;
    // Responses to responses are never sent; nothing shorter than a header is answered.
    if (size < 12 || (data[2] & 0x80) != 0) std::abort();
    if (out[0] != data[0] || out[1] != data[1] || (out[2] & 0x80) == 0) std::abort();
    if (transport == dns::Transport::udp) {
      const std::size_t limit = info.edns ? std::min<std::size_t>(std::max<std::size_t>(info.udp_size, 512), 1232) : 512;
      if (n > limit) std::abort();
    }
    if (n > dns::max_message) std::abort();
    // Every reply is a well-formed DNS message to an independent parser.
    ldns_pkt* pkt = nullptr;
    if (ldns_wire2pkt(&pkt, out.data(), n) != LDNS_STATUS_OK) std::abort();
    ldns_pkt_free(pkt);
  }
  return 0;
}
