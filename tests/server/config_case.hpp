// What the Corefile's tests share.
#pragma once

#include <string>

#include "server/config.hpp"

namespace wgsd::test {

/// The message a Corefile of `text` is refused with, or "(no error)" when it is accepted.
inline std::string corefile_error(const std::string& text) {
  try {
    server::parse_config(text, "Corefile");
  } catch (const server::ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace wgsd::test
