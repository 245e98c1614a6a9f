// The zones a directive applies to, as `acl`, `tsig` and `transfer` take them: `DIRECTIVE [ZONE...]`.
#pragma once

#include <string>
#include <vector>

#include "server/corefile.hpp"

namespace wgsd::server {

/// The zones `d` names, normalised; when it names none, the block's zones. Throws ConfigError
/// "FILE:LINE: DIRECTIVE: not a valid zone name: 'X'" for an argument that is not a zone name.
std::vector<std::string> directive_zones(const Directive& d, const std::vector<std::string>& block_zones);

/// The same zones in wire form (lower case, uncompressed), as the rules that match them keep them.
std::vector<std::string> directive_zone_wires(const Directive& d, const std::vector<std::string>& block_zones);

}  // namespace wgsd::server
