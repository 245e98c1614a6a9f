// What a WireGuard device is when read (Device, Peer) and what may be written to it (DeviceUpdate).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "wg/address.hpp"
#include "wg/key.hpp"

namespace wgsd::wg {

using Clock = std::chrono::system_clock;

/// One peer as the device reports it.
struct Peer {
  Key public_key;
  std::optional<Endpoint> endpoint;                  ///< nullopt: the peer has never been reached
  std::vector<Prefix> allowed_ips;                   ///< empty: none
  std::optional<Clock::time_point> last_handshake;   ///< nullopt: never (the device reports 0)
  std::uint64_t rx_bytes{};
  std::uint64_t tx_bytes{};
  std::uint16_t persistent_keepalive{};              ///< seconds; 0: off
  bool has_preshared_key{};                          ///< only whether one is set; the key is never kept

  friend bool operator==(const Peer&, const Peer&) = default;
};

/// A device as read. The private key is never kept: only the public key derived from it.
struct Device {
  std::string name;
  Key public_key;                                    ///< zero: the device has no private key
  std::uint16_t listen_port{};                       ///< 0: not listening
  std::uint32_t fwmark{};                            ///< 0: off
  std::vector<Peer> peers;                           ///< in device order

  friend bool operator==(const Device&, const Device&) = default;
};

/// A change to one peer. Only what the client may change: never keys of the device itself.
struct PeerUpdate {
  PeerUpdate() = default;
  /// The common change: one peer's endpoint, update-only.
  PeerUpdate(const Key& key, bool only_update, std::optional<Endpoint> to)
      : public_key(key), update_only(only_update), endpoint(std::move(to)) {}

  Key public_key;
  bool update_only{true};                            ///< never create a peer that does not exist
  std::optional<Endpoint> endpoint;                  ///< nullopt: leave the endpoint alone
  bool remove{};                                     ///< take the peer off the device (nothing else is sent)
  std::optional<std::vector<Prefix>> allowed_ips;    ///< replace the peer's allowed IPs by these; nullopt: leave them
  std::optional<std::uint16_t> persistent_keepalive; ///< seconds, 0 off; nullopt: leave it
};

/// A change to a device: a list of peer changes. There is deliberately no private key, listen port or fwmark.
struct DeviceUpdate {
  std::string name;
  std::vector<PeerUpdate> peers;
};

}  // namespace wgsd::wg
