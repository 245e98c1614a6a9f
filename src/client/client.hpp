// wgsd-client's work: for every peer of a device, ask the registries for its endpoint and set it
// when it differs, never disturbing a tunnel that works and never writing an endpoint that cannot
// be a remote peer.
#pragma once

#include <atomic>
#include <chrono>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "dns/tsig.hpp"
#include "wg/backend.hpp"

namespace wgsd::client {

struct SyncReport;

struct Options {
  std::string device;
  std::vector<wg::Endpoint> registries;           ///< in --dns order, asked side by side; the first wins ties
  std::string zone;                               ///< normalised, trailing dot
  std::chrono::seconds fresh{180};                ///< leave peers with a younger handshake alone
  bool force{};                                   ///< ... unless this is set
  std::vector<wg::Key> skip;
  std::chrono::milliseconds timeout{2000};
  unsigned retries{2};
  unsigned concurrency{32};                       ///< DNS exchanges in flight at once
  bool dry_run{};
  bool json{};
  std::optional<dns::tsig::Key> tsig;             ///< -y/-k: every query signed, every answer verified
};

enum class Outcome {
  skipped,          ///< named with --skip
  fresh,            ///< handshake younger than --fresh
  unknown,          ///< the registry does not know this peer (NXDOMAIN / NODATA)
  unchanged,        ///< the device already has the registry's endpoint
  updated,          ///< endpoint written (or would be, with --dry-run)
  lookup_failed,    ///< no registry knows the peer, and at least one could not be asked
  refused,          ///< the registry's endpoint cannot be a remote peer (loopback, routing loop, ...)
  write_failed,     ///< the device refused the endpoint
  stopped,          ///< SIGTERM/SIGINT came before this peer was looked up or written
};

struct PeerReport {
  wg::Key public_key;
  Outcome outcome{};
  std::optional<wg::Endpoint> previous;
  std::optional<wg::Endpoint> endpoint;
  std::optional<std::int64_t> handshake;          ///< from the registry's TXT
  std::vector<wg::Prefix> allowed;                ///< from the registry's TXT (allowed=, allowed2=, ...)
  std::string registry;                           ///< which one answered
  std::string message;                            ///< what happened, in words
};

struct RunReport {
  std::string device;
  bool device_failed{};
  bool round_failed{};                            ///< something unforeseen ended the round (e.g. out of memory)
  std::string error;                              ///< when the device could not be read, or the round failed
  std::vector<PeerReport> peers;
  /// 0 all resolved, skipped or stopped, 2 a lookup failed or was refused, 3 the device could not be read or written.
  [[nodiscard]] int exit_code() const;
};

/// Reads `name` from `backend`; when it cannot be read, says why in `report` (a RunReport, SyncReport
/// or RoamReport: `device_failed` and `error`) and gives nothing.
template <class Report>
std::optional<wg::Device> read_device_or_report(wg::Backend& backend, const std::string& name, Report& report) {
  try {
    return backend.get_device(name);
  } catch (const std::exception& e) {
    report.device_failed = true;
    report.error = e.what();
    return std::nullopt;
  }
}

/// One round over every peer, in the calling thread (no thread is started). `stop` (may be null)
/// and `stop_fd` (a signalfd, or -1) end the waiting early. Never throws.
RunReport run_once(const Options& options, wg::Backend& backend, const std::atomic<bool>* stop = nullptr, int stop_fd = -1);

/// "wgsd-client: <key>: <what happened>" lines for a report.
void print_messages(const RunReport& report, bool dry_run, std::ostream& out);
/// One JSON object for a report.
/// With `sync` (--sync), the sync round's part joins the document as "sync": still one per round.
void print_json(const RunReport& report, bool dry_run, std::ostream& out, const SyncReport* sync = nullptr);

/// One line for systemd's STATUS= in daemon mode: "wg0: 3 peers, 1 updated, 0 failed".
std::string status_line(const RunReport& report);

const char* outcome_name(Outcome outcome);

}  // namespace wgsd::client
