#include "dns/names.hpp"

namespace wgsd::dns {

std::string service_name(const std::string& zone) { return "_wireguard._udp." + (zone == "." ? std::string() : zone); }

std::string instance_name(const wg::Key& key, const std::string& zone, bool upper) {
  return key.to_base32(!upper) + "." + service_name(zone);
}

}  // namespace wgsd::dns
