// TSIG key files: BIND key blocks, as tsig-keygen writes them (`key "NAME" { algorithm ALG;
// secret "BASE64"; };`), or Knot's `key:` section, as `keymgr -t NAME ALG` prints it. Shared by the server's `secrets FILE` and the client's -k. Messages never carry the secret.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "dns/tsig.hpp"

namespace wgsd::dns::tsig {

/// A key file that cannot be used; the message starts with "FILE:LINE: ".
class KeyFileError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// The keys of every `key` block of `text`, read from `file` (for messages). Throws KeyFileError
/// naming FILE:LINE and the problem (an unsupported algorithm by name, a missing secret).
std::vector<Key> parse_key_file(std::string_view text, const std::string& file);
/// The same, read from `path`; throws KeyFileError if it cannot be read.
std::vector<Key> read_key_file(const std::string& path);

}  // namespace wgsd::dns::tsig
