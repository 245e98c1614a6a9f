// The `acl` directive of a server block, read into the rules src/dns/acl.hpp decides with.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "dns/acl.hpp"
#include "server/config.hpp"
#include "server/corefile.hpp"

namespace wgsd::server {

/// `acl [ZONE...] { allow|block|filter|drop [type QTYPE...] [net CIDR...] }`. Without ZONEs the
/// rule covers `block_zones` (the server block's keys). Throws ConfigError naming the place and the
/// bad value: "Corefile:4: acl: net: expected a CIDR, got '10.0.0.0/33'".
dns::AclRule parse_acl(const Directive& d, const std::vector<std::string>& block_zones);

/// What judges the queries coming to sockets that these blocks listen on: every block takes part
/// (a query goes to the block of its zone, and only that block's rules judge it). Null when none of
/// them has an `acl`: then nothing is asked.
std::shared_ptr<const dns::Acl> compile_acl(const std::vector<const BlockConfig*>& blocks);

}  // namespace wgsd::server
