// wgsd-client's work: for every peer of a device, ask the registries for its endpoint and set it
// when it differs, never disturbing a tunnel that works (SPEC §6).
#pragma once

#include <atomic>
#include <chrono>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "wg/backend.hpp"

namespace wgsd::client {

struct Options {
  std::string device;
  std::vector<wg::Endpoint> registries;           ///< in --dns order; the first answer wins ties
  std::string zone;                               ///< normalised, trailing dot
  std::chrono::seconds fresh{180};                ///< leave peers with a younger handshake alone
  bool force{};                                   ///< ... unless this is set
  std::vector<wg::Key> skip;
  std::chrono::milliseconds timeout{2000};
  unsigned retries{2};
  unsigned concurrency{32};                       ///< peers looked up at once
  bool dry_run{};
  bool json{};
};

enum class Outcome {
  skipped,          ///< named with --skip
  fresh,            ///< handshake younger than --fresh
  unknown,          ///< the registry does not know this peer (NXDOMAIN / NODATA)
  unchanged,        ///< the device already has the registry's endpoint
  updated,          ///< endpoint written (or would be, with --dry-run)
  lookup_failed,    ///< no usable answer from any registry
  write_failed,     ///< the device refused the endpoint
};

struct PeerReport {
  wg::Key public_key;
  Outcome outcome{};
  std::optional<wg::Endpoint> previous;
  std::optional<wg::Endpoint> endpoint;
  std::optional<std::int64_t> handshake;          ///< from the registry's TXT
  std::string registry;                           ///< which one answered
  std::string message;                            ///< what happened, in words
};

struct RunReport {
  std::string device;
  bool device_failed{};
  std::string error;                              ///< when the device could not be read
  std::vector<PeerReport> peers;
  /// 0 all resolved or skipped, 2 a lookup failed, 3 the device could not be read or written.
  [[nodiscard]] int exit_code() const;
};

/// One round over every peer. `stop` (may be null) ends waiting early.
RunReport run_once(const Options& options, wg::Backend& backend, const std::atomic<bool>* stop = nullptr);

/// "wgsd-client: <key>: <what happened>" lines for a report.
void print_messages(const RunReport& report, bool dry_run, std::ostream& out);
/// One JSON object for a report.
void print_json(const RunReport& report, bool dry_run, std::ostream& out);

const char* outcome_name(Outcome outcome);

}  // namespace wgsd::client
