// A wgsd server running in the test's process over a FakeBackend the test keeps, to query on
// loopback and to change the device under.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dns/fixtures.hpp"
#include "server/server.hpp"
#include "support/fake_backend.hpp"

namespace wgsd::test {

/// Forwards to a FakeBackend owned by the test, so the server's factory can hand out many.
struct SharedBackend : wg::Backend {
  FakeBackend& inner;
  explicit SharedBackend(FakeBackend& b) : inner(b) {}
  wg::Device get_device(const std::string& n) override { return inner.get_device(n); }
  void apply(const wg::DeviceUpdate& u) override { inner.apply(u); }
};

/// A backend factory whose every backend is `backend`.
inline server::BackendFactory sharing(FakeBackend& backend) {
  return [&backend](const server::ZoneConfig&) { return std::make_unique<SharedBackend>(backend); };
}

/// The reference zone's configuration (its settings and publishing policy) for a PeerCache or
/// server that reads the device `device` (the reference device's name).
inline server::ZoneConfig reference_zone_config(const std::string& device = reference_device().name) {
  server::ZoneConfig zone;
  zone.settings = reference_settings().settings;
  zone.publish = reference_settings().publish;
  zone.device = device;
  return zone;
}

/// The server of `corefile`, started, over the reference device and `more`; its log is dropped.
struct Serving {
  FakeBackend backend;
  server::Log log{[](const std::string&) {}};
  std::unique_ptr<server::Server> server;

  explicit Serving(const std::string& corefile, const std::vector<wg::Device>& more = {}) {
    backend.put(reference_device());
    for (const auto& d : more) backend.put(d);
    server = std::make_unique<server::Server>(server::parse_config(corefile, "Corefile"), sharing(backend), log);
    server->start();
  }
};

}  // namespace wgsd::test
