#include "server/zone_args.hpp"

#include "dns/wire.hpp"

namespace wgsd::server {
namespace {

[[noreturn]] void not_a_zone(const Directive& d, const Token& at, const std::string& text) {
  throw ConfigError(at.where() + ": " + d.name.text + ": not a valid zone name: '" + text + "'");
}

}  // namespace

std::vector<std::string> directive_zones(const Directive& d, const std::vector<std::string>& block_zones) {
  std::vector<std::string> zones;
  for (const auto& a : d.args) {
    auto z = dns::normalize_zone(a.text);
    if (!z) not_a_zone(d, a, a.text);
    zones.push_back(*z);
  }
  return zones.empty() ? block_zones : zones;
}

std::vector<std::string> directive_zone_wires(const Directive& d, const std::vector<std::string>& block_zones) {
  std::vector<std::string> wires;
  for (const auto& z : directive_zones(d, block_zones)) {
    auto wire = dns::name_to_wire(z);
    if (!wire) not_a_zone(d, d.name, z);
    wires.push_back(*wire);
  }
  return wires;
}

}  // namespace wgsd::server
