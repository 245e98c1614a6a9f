// The Corefile tokenizer and config: any text is a configuration or a ConfigError, and every zone
// of a configuration that parses can be built, empty and with peers (a Corefile --check accepts
// must be servable).
#include <cstdlib>
#include <string_view>

#include "fuzz_zone.hpp"
#include "server/config.hpp"

using namespace wgsd;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  server::ServerConfig config;
  try {
    config = server::parse_config(std::string_view(reinterpret_cast<const char*>(data), size), "Corefile");
  } catch (const server::ConfigError&) {
    return 0;
  }
  static const auto now = wg::Clock::now();
  static const auto peers = fuzz::peers(now);
  for (const auto& block : config.blocks) {
    for (const auto& zone : block.wgsd) {
      try {
        const auto empty = dns::build_empty_zone(zone.settings);
        const auto full = dns::build_zone(zone.settings, peers, now, empty.get());
        if (!full || full->published == 0) std::abort();
      } catch (...) {
        std::abort();
      }
    }
  }
  return 0;
}
