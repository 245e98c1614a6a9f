#include "util/duration.hpp"

#include <cstdint>
#include <cstdio>

namespace wgsd::util {

std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  long double total = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    long double value = 0;
    std::size_t digits = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      value = value * 10 + (text[i++] - '0');
      ++digits;
    }
    if (i < text.size() && text[i] == '.') {
      ++i;
      long double scale = 0.1L;
      while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
        value += (text[i++] - '0') * scale;
        scale /= 10;
        ++digits;
      }
    }
    if (digits == 0) return std::nullopt;
    std::size_t unit_start = i;
    while (i < text.size() && ((text[i] >= 'a' && text[i] <= 'z'))) ++i;
    const auto unit = text.substr(unit_start, i - unit_start);
    long double ns = 0;
    if (unit == "ns") ns = 1;
    else if (unit == "us") ns = 1e3L;
    else if (unit == "ms") ns = 1e6L;
    else if (unit == "s") ns = 1e9L;
    else if (unit == "m") ns = 60e9L;
    else if (unit == "h") ns = 3600e9L;
    else return std::nullopt;
    total += value * ns;
    if (total > 1e18L) return std::nullopt;  // ~31 years: surely a typo
  }
  if (total < 1) return std::nullopt;
  return std::chrono::nanoseconds(static_cast<std::int64_t>(total));
}

std::string format_duration(std::chrono::nanoseconds d) {
  char buf[64];
  const double ns = static_cast<double>(d.count());
  if (ns >= 1e9) std::snprintf(buf, sizeof buf, "%gs", ns / 1e9);
  else if (ns >= 1e6) std::snprintf(buf, sizeof buf, "%gms", ns / 1e6);
  else std::snprintf(buf, sizeof buf, "%gus", ns / 1e3);
  return buf;
}

}  // namespace wgsd::util
