// Deterministic keys for tests.
#pragma once

#include <stdexcept>
#include <string>

#include "wg/key.hpp"

namespace wgsd::test {

/// A deterministic, distinct public key for each n.
inline wg::Key key_n(unsigned n) {
  std::array<std::uint8_t, wg::key_size> b{};
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<std::uint8_t>((n * 131 + i * 7 + (n >> 8) * 13) & 0xff);
  b[0] = static_cast<std::uint8_t>(n & 0xff);
  b[1] = static_cast<std::uint8_t>((n >> 8) & 0xff);
  b[2] = static_cast<std::uint8_t>((n >> 16) & 0xff);
  return wg::Key(b);
}

inline wg::Key key_from_b64(const std::string& text) {
  auto k = wg::Key::from_base64(text);
  if (!k) throw std::invalid_argument("bad test key " + text);
  return *k;
}

}  // namespace wgsd::test
