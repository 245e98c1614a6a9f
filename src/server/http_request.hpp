// HTTP/1.x requests as wgsd-server's HTTP side reads them, and the heads of its responses: pure
// functions over bytes, apart from the sockets (src/server/http.cpp), so that every rule can be
// tested on its own. Only GET and HEAD without a body are served; anything else gets its 4xx/5xx.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "server/http.hpp"

namespace wgsd::server::http {

struct Request {
  bool head{};        ///< HEAD: the answer's head only
  std::string path;   ///< percent-decoded, without the query string
  bool keep_alive{};  ///< the connection stays open after the answer
};

struct Parsed {
  enum class Kind { incomplete, request, error } kind{Kind::incomplete};
  std::size_t consumed{};  ///< request: the bytes of its head, to drop from the buffer
  std::size_t scanned{};   ///< incomplete: where the next parse of this buffer, longer, may resume
  Request request;
  unsigned status{};  ///< error: what to answer before closing (400, 405, 413, 431, 505)
  std::string reason;  ///< error: the body, one line
};

/// The first request in `buffer`: incomplete while its head has not ended (and `limit` bytes are not
/// reached: past them, a 431), a request once it has, or an error to answer before closing.
Parsed parse_request(std::string_view buffer, std::size_t limit, std::size_t resume = 0);

/// The status line and headers of `response` (Content-Length of its body, Content-Type,
/// Cache-Control: no-store, X-Content-Type-Options: nosniff, Date, Connection), `allow` adding
/// `Allow: GET, HEAD`.
std::string response_head(const HttpResponse& response, bool keep_alive, bool allow);

}  // namespace wgsd::server::http
