#include "dns/names.hpp"

#include "dns/wire.hpp"

namespace wgsd::dns {
namespace {

constexpr std::size_t instance_label = 56;  // base32 of 32 bytes, padded

}  // namespace

std::string service_name(const std::string& zone) { return "_wireguard._udp." + (zone == "." ? std::string() : zone); }

std::string instance_name(const wg::Key& key, const std::string& zone, bool upper) {
  return key.to_base32(!upper) + "." + service_name(zone);
}

std::size_t wire_length(std::string_view text) {
  if (!text.empty() && text.back() == '.') text.remove_suffix(1);
  return text.empty() ? 1 : text.size() + 2;  // each dot becomes a length byte; one more, and the root
}

std::size_t instance_wire_length(const std::string& zone) { return 1 + instance_label + wire_length(service_name(zone)); }

std::optional<OverlongName> overlong_name(const std::string& zone, const std::vector<std::string>& ns_names) {
  const std::string suffix = zone == "." ? std::string() : zone;
  if (const std::size_t n = instance_wire_length(zone); n > max_name) {
    return OverlongName{"a peer's name", "<" + std::to_string(instance_label) + " characters>." + service_name(zone), n};
  }
  if (const std::size_t n = wire_length("postmaster." + suffix); n > max_name) return OverlongName{"the SOA mailbox", "postmaster." + suffix, n};
  const std::vector<std::string> ns = ns_names.empty() ? std::vector<std::string>{"ns1." + suffix} : ns_names;
  for (const auto& name : ns) {
    if (const std::size_t n = wire_length(name); n > max_name) return OverlongName{"the NS name", name, n};
  }
  return std::nullopt;
}

}  // namespace wgsd::dns
