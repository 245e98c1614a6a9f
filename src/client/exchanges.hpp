// Runs a set of DNS exchanges to their end in the calling thread: one poll loop, at most
// `concurrency` in flight, ended early by a stop fd (a signalfd). For the listing of --sync and
// the handshake questions of --roam, which need each reply itself rather than a peer's endpoint.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "client/resolver.hpp"

namespace wgsd::client {

/// Starts and drives `exchanges` until none is running. Returns an empty string when all ended
/// (done or failed, see each one's state), else why the loop stopped early ("stopped", or the poll
/// error); those not finished are then left as they are.
std::string run_exchanges(std::vector<std::unique_ptr<Exchange>>& exchanges, unsigned concurrency, int stop_fd);

}  // namespace wgsd::client
