// A bare HttpServer on 127.0.0.1 (a port the kernel picks) with every route on, for the tests of
// the HTTP side's connections and slots: /health "OK", /big 16 MiB, /count how many requests came
// so far (this one included), /throw throws something that is no std::exception, 404 otherwise.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "server/http.hpp"

namespace wgsd::test {

inline constexpr std::size_t big_size = 16 * 1024 * 1024;

struct Served {
  std::atomic<int> requests{0};
  server::HttpServer http;
  explicit Served(server::HttpLimits limits = {})
      : http({wg::IpAddress::v4({127, 0, 0, 1}), 0}, {true, true, true, true},
             [this](const server::HttpRoutes&, std::string_view path) -> server::HttpResponse {
               const int n = ++requests;
               if (path == "/health") return {200, "text/plain; charset=utf-8", "OK"};
               if (path == "/big") return {200, "application/json", std::string(big_size, 'x')};
               if (path == "/count") return {200, "text/plain; charset=utf-8", std::to_string(n)};
               if (path == "/throw") throw 42;
               return {404, "text/plain; charset=utf-8", "404 page not found\n"};
             },
             limits) {
    http.start();
  }
  [[nodiscard]] std::uint16_t port() const { return http.port(); }
};

}  // namespace wgsd::test
