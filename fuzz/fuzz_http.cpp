// The HTTP request head parser of wgsd-server's HTTP side: any bytes are incomplete, a request or
// an error, within the limit; a request never reaches past the buffer, and what follows a complete
// head (the next pipelined request, or anything) does not change it.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "server/http_request.hpp"

using wgsd::server::http::Parsed;
using wgsd::server::http::parse_request;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t limit = 16 + data[0] * 4;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  const Parsed p = parse_request(text, limit);
  switch (p.kind) {
    case Parsed::Kind::incomplete:
      if (text.size() > limit) std::abort();  // past the limit it must be an answer, a 431
      break;
    case Parsed::Kind::error:
      if (p.status < 400 || p.status > 505 || p.reason.empty()) std::abort();
      break;
    case Parsed::Kind::request: {
      if (p.consumed == 0 || p.consumed > text.size() || p.consumed > limit || p.request.path.empty()) std::abort();
      const Parsed alone = parse_request(std::string_view(text).substr(0, p.consumed), limit);
      const Parsed more = parse_request(text + "GET / HTTP/1.1\r\n", limit);
      for (const Parsed* q : {&alone, &more}) {
        if (q->kind != Parsed::Kind::request || q->consumed != p.consumed || q->request.path != p.request.path ||
            q->request.head != p.request.head || q->request.keep_alive != p.request.keep_alive) {
          std::abort();
        }
      }
      break;
    }
  }
  return 0;
}
