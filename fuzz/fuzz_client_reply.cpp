// The client's reading of a registry's reply: any bytes, never a crash, never an unusable result.
#include <cstdlib>
#include <stdexcept>

#include "client/reply.hpp"
#include "client/resolver.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string qname = "CJ7VJD6YKB2UBT6NOA6PW32PMF3EGUMO52QWA4UJ4EKILQDX252A====._wireguard._udp.example.com.";
  const std::span<const std::uint8_t> reply(data, size);
  const auto srv = wgsd::client::read_srv_reply(reply, qname);
  if (srv.kind == wgsd::client::SrvReply::Kind::found && srv.port == 0) std::abort();
  // The reply matcher reads any bytes against a real query, the same in every run (the case as
  // given and a fixed ID) so that a crash found once reproduces.
  static const auto query = [] {
    std::uint16_t id = 0;
    auto q = wgsd::client::build_query(qname, 33, id, false);
    q[0] = 0x12;
    q[1] = 0x34;
    return q;
  }();
  (void)wgsd::client::reply_matches(query, data, size);
  (void)wgsd::client::reply_matches(query, data, size, false);  // over TCP: any case
  try {
    (void)wgsd::client::read_address_reply(reply, "x.example.com.", 1);
    (void)wgsd::client::read_address_reply(reply, qname, 28);
  } catch (const std::runtime_error&) {
  }
  // --sync and --roam: the listing (every key it names is a whole key, each once) and a TXT.
  try {
    const auto ptr = wgsd::client::read_ptr_reply(reply, "_wireguard._udp.example.com.");
    for (std::size_t i = 0; i < ptr.keys.size(); ++i) {
      for (std::size_t j = i + 1; j < ptr.keys.size(); ++j) {
        if (ptr.keys[i] == ptr.keys[j]) std::abort();
      }
    }
  } catch (const std::runtime_error&) {
  }
  try {
    (void)wgsd::client::read_txt_reply(reply, qname);
  } catch (const std::runtime_error&) {
  }
  return 0;
}
