// An in-memory wg::Backend that fails the way the real ones fail.
#pragma once

#include <algorithm>
#include <map>
#include <mutex>
#include <optional>
#include <system_error>
#include <utility>
#include <vector>

#include "wg/backend.hpp"
#include "wg/error.hpp"

namespace wgsd::test {

class FakeBackend final : public wg::Backend {
public:
  void put(wg::Device device) {
    std::lock_guard lock(mutex_);
    devices_[device.name] = std::move(device);
  }
  void remove(const std::string& name) {
    std::lock_guard lock(mutex_);
    devices_.erase(name);
  }
  /// The next call (get or apply) throws this error instead of working.
  void fail_next(std::errc code) {
    std::lock_guard lock(mutex_);
    fail_next_ = code;
  }

  /// The next apply (only) throws this error instead of working.
  void fail_next_apply(std::errc code) {
    std::lock_guard lock(mutex_);
    fail_next_apply_ = code;
  }
  /// The next apply sets only the first `peers` peers of its update, then throws `code`: as the
  /// kernel does when a large update split into several messages is refused at a later one.
  void fail_next_apply_after(std::size_t peers, std::errc code) {
    std::lock_guard lock(mutex_);
    partial_ = std::pair(peers, code);
  }

  wg::Device get_device(const std::string& name) override {
    std::lock_guard lock(mutex_);
    ++gets_;
    maybe_fail(name);
    auto it = devices_.find(name);
    if (it == devices_.end()) throw wg::Error(std::errc::no_such_device, "no such device '" + name + "'");
    return it->second;
  }

  void apply(const wg::DeviceUpdate& update) override {
    std::lock_guard lock(mutex_);
    maybe_fail(update.name);
    if (fail_next_apply_) {
      const auto code = *fail_next_apply_;
      fail_next_apply_.reset();
      throw wg::Error(code, "fake: device '" + update.name + "'");
    }
    auto it = devices_.find(update.name);
    if (it == devices_.end()) throw wg::Error(std::errc::no_such_device, "no such device '" + update.name + "'");
    applied_.push_back(update);
    auto& peers = it->second.peers;
    const auto partial = std::exchange(partial_, std::nullopt);
    for (const auto& pu : update.peers) {
      if (partial && static_cast<std::size_t>(&pu - update.peers.data()) == partial->first) {
        throw wg::Error(partial->second, "fake: device '" + update.name + "' (message 2 of 2)");
      }
      auto p = std::find_if(peers.begin(), peers.end(), [&](const wg::Peer& x) { return x.public_key == pu.public_key; });
      if (pu.remove) {
        if (p != peers.end()) peers.erase(p);
        continue;
      }
      if (p == peers.end()) {
        if (pu.update_only) continue;
        peers.push_back({});
        p = peers.end() - 1;
        p->public_key = pu.public_key;
      }
      if (pu.endpoint) p->endpoint = pu.endpoint;
      if (pu.allowed_ips) {
        // As WireGuard does: an allowed IP belongs to one peer, the last one given it.
        for (auto& other : peers) {
          if (other.public_key == pu.public_key) continue;
          std::erase_if(other.allowed_ips, [&](const wg::Prefix& a) { return std::find(pu.allowed_ips->begin(), pu.allowed_ips->end(), a) != pu.allowed_ips->end(); });
        }
        p->allowed_ips = *pu.allowed_ips;
      }
      if (pu.persistent_keepalive) p->persistent_keepalive = *pu.persistent_keepalive;
    }
  }

  std::vector<wg::DeviceUpdate> applied() const {
    std::lock_guard lock(mutex_);
    return applied_;
  }
  unsigned gets() const {
    std::lock_guard lock(mutex_);
    return gets_;
  }

private:
  void maybe_fail(const std::string& name) {
    if (fail_next_) {
      const auto code = *fail_next_;
      fail_next_.reset();
      throw wg::Error(code, "fake: device '" + name + "'");
    }
  }

  mutable std::mutex mutex_;
  std::map<std::string, wg::Device> devices_;
  std::vector<wg::DeviceUpdate> applied_;
  std::optional<std::errc> fail_next_;
  std::optional<std::errc> fail_next_apply_;
  std::optional<std::pair<std::size_t, std::errc>> partial_;
  unsigned gets_{};
};

}  // namespace wgsd::test
