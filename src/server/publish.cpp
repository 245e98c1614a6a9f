#include "server/publish.hpp"

#include <algorithm>

namespace wgsd::server {

std::vector<dns::PublishedPeer> published_peers(const PublishPolicy& policy, wg::Device& device, wg::Clock::time_point now) {
  std::vector<dns::PublishedPeer> out;
  out.reserve(device.peers.size() + 1);
  const auto hidden = [&](const wg::Key& k) { return std::find(policy.hide.begin(), policy.hide.end(), k) != policy.hide.end(); };
  for (auto& p : device.peers) {
    if (hidden(p.public_key)) continue;
    const bool fresh = !policy.max_age || (p.last_handshake && now - *p.last_handshake <= *policy.max_age);
    out.push_back({p.public_key, fresh ? p.endpoint : std::nullopt, false, policy.list_all, std::move(p.allowed_ips), p.last_handshake});
  }
  if (policy.self && !device.public_key.is_zero() && !hidden(device.public_key)) {
    // Without a configured endpoint: the listen port, and the address each query arrives on.
    // A device that does not listen has no port to publish: TXT only.
    dns::PublishedPeer self{device.public_key, policy.self->endpoint, false, policy.list_all, policy.self->allowed_ips, std::nullopt};
    if (!self.endpoint && device.listen_port != 0) {
      self.endpoint = wg::Endpoint{wg::IpAddress(), device.listen_port};
      self.local_address = true;
    }
    out.push_back(std::move(self));
  }
  return out;
}

}  // namespace wgsd::server
