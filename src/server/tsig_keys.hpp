// The `tsig` directive and BIND key files: what keys a server block knows and which queries must be
// signed. Key material is never put in a message.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dns/tsig.hpp"
#include "server/corefile.hpp"

namespace wgsd::server {

struct BlockConfig;

/// One `tsig [ZONE...] { secret NAME BASE64 ; secrets FILE ; require [all|QTYPE...|none] ; fudge SECONDS }`.
struct TsigConfig {
  std::vector<dns::tsig::Key> keys;
  dns::tsig::Rule rule;
  std::string where;   ///< "Corefile:7"
};

/// `block_zones`: the server block's zones (normalised text), the default scope.
TsigConfig parse_tsig(const Directive& d, const std::vector<std::string>& block_zones);

/// The keys of BIND `key "NAME" { algorithm ALG; secret "BASE64"; };` blocks, as tsig-keygen writes
/// them. Throws ConfigError naming FILE:LINE and the problem (an unsupported algorithm by name).
std::vector<dns::tsig::Key> parse_key_file(std::string_view text, const std::string& file);
/// The same, read from `path`; throws ConfigError if it cannot be read.
std::vector<dns::tsig::Key> read_key_file(const std::string& path);

/// The TSIG keys and rules for sockets that the server blocks `blocks` listen on, in Corefile
/// order; null when none of them has a `tsig`.
std::shared_ptr<const dns::tsig::Policy> compile_tsig(const std::vector<const BlockConfig*>& blocks);

}  // namespace wgsd::server
