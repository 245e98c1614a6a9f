// The command-line flags of `--sync` and `--roam`, kept apart from the ordinary round's.
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>
#include <vector>

#include "client/client.hpp"
#include "client/roam.hpp"
#include "client/sync.hpp"

namespace wgsd::client {

struct SyncFlags {
  bool sync{};
  bool prune{};
  bool insecure{};
  std::vector<std::string> allowed_within;
  std::string keepalive;
  std::string state;
  std::string max_prune;   ///< empty: 10%
};

/// Adds --sync, --prune, --allowed-within, --keepalive, --state, --max-prune and --insecure.
void add_sync_flags(CLI::App& app, SyncFlags& flags);

/// Checks the flags against each other and the round's options; nullopt without --sync. Throws
/// CLI::ValidationError naming the flag and the bad value.
/// `roam`: --roam was given (--state is its state file too).
std::optional<SyncOptions> sync_options(const SyncFlags& flags, const Options& options, bool roam = false);

struct RoamFlags {
  bool roam{};
  std::string backbone;
  std::string max_skew = "5s";
};

/// Adds --roam, --backbone and --max-skew.
void add_roam_flags(CLI::App& app, RoamFlags& flags);

/// nullopt without --roam. Without a TSIG key in `options` it is refused unless `insecure`.
/// `state` is --state (empty: the default state file of the device).
/// Throws CLI::ValidationError naming the flag and the bad value.
std::optional<RoamOptions> roam_options(const RoamFlags& flags, bool sync, const Options& options, bool insecure,
                                        const std::string& state = {});

}  // namespace wgsd::client
