// The Corefile tokenizer and config: any text is a configuration or a ConfigError.
#include <string_view>

#include "server/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    (void)wgsd::server::parse_config(std::string_view(reinterpret_cast<const char*>(data), size), "Corefile");
  } catch (const wgsd::server::ConfigError&) {
  }
  return 0;
}
