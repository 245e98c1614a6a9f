// The `transfer` directive: which zones may be transferred, to whom, and who is sent NOTIFY.
#pragma once

#include <string>
#include <vector>

#include "dns/transfer.hpp"
#include "server/corefile.hpp"

namespace wgsd::server {

/// One `transfer [ZONE...] { to ADDRESS[:PORT]... | to * }` (CoreDNS syntax).
struct TransferConfig {
  dns::TransferRule rule;
  std::string where;   ///< "Corefile:7"
};

/// `block_zones`: the server block's zones (normalised text), the default scope.
TransferConfig parse_transfer(const Directive& d, const std::vector<std::string>& block_zones);

}  // namespace wgsd::server
