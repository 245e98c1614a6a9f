// One DNS exchange with one registry, as a non-blocking state machine that an event loop drives:
// random ID, RD, EDNS(0) 1232, random 0x20 case on the name, a connected UDP socket with a
// timeout and retries, TCP when the reply is truncated. A reply is accepted only if it carries
// our ID with QR set and repeats our question byte for byte (the case included); everything else
// is ignored as a possible spoof. A reply that matches but for the case comes from a resolver that
// answers in the case it cached: the question is asked again over TCP, where an off-path forger
// cannot answer, and any case is accepted there. An ICMP error on the connected socket ends an
// attempt at once; the next one follows a short pause, so a registry that restarts is really
// asked again.
#pragma once

#include <poll.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "dns/tsig.hpp"
#include "wg/address.hpp"
#include "wg/unique_fd.hpp"

namespace wgsd::client {

using SteadyClock = std::chrono::steady_clock;

struct ResolverOptions {
  std::chrono::milliseconds timeout{2000};   ///< per attempt
  unsigned retries{2};                       ///< further UDP attempts after the first
  const dns::tsig::Key* key{};               ///< sign every query with it, and accept only answers it verifies
  bool tcp{};                                ///< ask over TCP from the start (a listing that would not fit UDP)
};

/// Signs `query` (as build_query made it) with `key` at `now` (unix seconds); returns the MAC the
/// answer must chain.
std::vector<std::uint8_t> sign_query(std::vector<std::uint8_t>& query, const dns::tsig::Key& key, std::uint64_t now);

/// Checks the TSIG of `reply` to a query signed with `key` whose MAC was `request_mac`, at `now`.
/// Empty when it verifies; otherwise what is wrong, in words (unsigned, wrong signature, the
/// registry refused our key or signature, the clock skew for BADTIME). `later_message`: a message
/// after the first of a multi-message answer (a transfer), `request_mac` then being the MAC of the
/// message before it.
std::string check_reply_tsig(const std::vector<std::uint8_t>& reply, const dns::tsig::Key& key,
                             const std::vector<std::uint8_t>& request_mac, std::uint64_t now, bool later_message = false);

/// Builds a query: random ID (returned through `id`), RD set, EDNS(0) with a 1232-byte payload,
/// and each letter of `qname` in a random case (0x20 bits; with `random_case` false the name keeps
/// the case given, for reproducible fuzzing). Throws std::runtime_error for a name that cannot be
/// put on the wire.
std::vector<std::uint8_t> build_query(const std::string& qname, std::uint16_t qtype, std::uint16_t& id, bool random_case = true);

/// True if `reply` answers `query`: same ID, QR set, one question byte-equal to ours. With
/// `exact_case` the case must match too: the registry echoes the question, so a reply in another
/// case did not see our query. Without it (over TCP, where the case proves nothing) the name is
/// compared without regard to case.
bool reply_matches(const std::vector<std::uint8_t>& query, const std::uint8_t* reply, std::size_t size, bool exact_case = true);

/// One query to one server. Call start(), then on_ready() when fd() shows events(), and
/// on_deadline() once deadline() has passed, until state() is no longer running.
class Exchange {
public:
  enum class State { idle, running, done, failed };

  Exchange(wg::Endpoint server, const std::string& qname, std::uint16_t qtype, ResolverOptions options);
  void start(SteadyClock::time_point now);
  void on_ready(short revents, SteadyClock::time_point now);
  void on_deadline(SteadyClock::time_point now);

  [[nodiscard]] State state() const { return state_; }
  [[nodiscard]] int fd() const { return fd_.get(); }
  [[nodiscard]] short events() const { return phase_ == Phase::tcp_connect || phase_ == Phase::tcp_send ? POLLOUT : POLLIN; }
  [[nodiscard]] SteadyClock::time_point deadline() const { return deadline_; }
  /// The accepted reply, once done.
  [[nodiscard]] const std::vector<std::uint8_t>& reply() const { return reply_; }
  /// What went wrong, once failed.
  [[nodiscard]] const std::string& error() const { return error_; }

private:
  enum class Phase { udp, tcp_connect, tcp_send, tcp_receive };
  void udp_attempt(SteadyClock::time_point now);
  void next_attempt(SteadyClock::time_point now);
  void pause_then_retry(SteadyClock::time_point now);
  void read_udp(SteadyClock::time_point now);
  void start_tcp(SteadyClock::time_point now);
  void advance_tcp();
  void fail(std::string why);
  void accept(std::vector<std::uint8_t> reply);

  wg::Endpoint server_;
  ResolverOptions options_;
  std::vector<std::uint8_t> query_;
  std::vector<std::uint8_t> request_mac_;   ///< with a key: what the answer's MAC chains
  State state_{State::idle};
  Phase phase_{Phase::udp};
  wg::UniqueFd fd_;
  unsigned attempt_{};
  SteadyClock::time_point deadline_{};
  std::string last_error_;
  std::vector<std::uint8_t> out_;   ///< TCP: the length-prefixed query
  std::size_t sent_{};
  std::vector<std::uint8_t> in_;    ///< TCP: what arrived so far
  std::vector<std::uint8_t> reply_;
  std::string error_;
  bool case_lost_{};                ///< a UDP reply matched but for the case: over TCP, any case
};

}  // namespace wgsd::client
