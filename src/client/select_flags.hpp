// The command-line flags of `--select`, kept apart from the ordinary round's.
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>

#include "client/client.hpp"
#include "client/select.hpp"
#include "client/sync_flags.hpp"

namespace wgsd::client {

struct SelectFlags {
  std::string pool;
  std::string check = "5s";
  std::string established = "2m30s";
};

/// Adds --select, --check and --established (--keepalive and --state are --sync's, shared).
void add_select_flags(CLI::App& app, SelectFlags& flags);

/// Checks the flags; nullopt without --select. Takes --keepalive and --state out of `sync` (they are
/// then --select's). Throws CLI::ValidationError naming the flag and the bad value.
std::optional<SelectOptions> select_options(const SelectFlags& flags, SyncFlags& sync, bool roam, const Options& options);

}  // namespace wgsd::client
