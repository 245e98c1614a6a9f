// Kernel routes through an interface, over rtnetlink (libmnl): what `--roam` adds to send a
// client's addresses to the server that holds it. Only the main table, only routes of the form
// "PREFIX dev IFNAME", tagged with wgsd's own route protocol so `ip route` shows who added them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "wg/address.hpp"

namespace wgsd::wg {

/// The rtnetlink protocol of the routes wgsd adds (`ip route show proto 0x77`).
inline constexpr std::uint8_t route_protocol = 0x77;

/// The RTM_NEWROUTE (create, never replace: NLM_F_EXCL) or RTM_DELROUTE request for `prefix` via
/// interface `ifindex`, tagged with route_protocol: a delete so tagged removes only wgsd's route.
std::vector<std::byte> build_route_request(bool add, int ifindex, const Prefix& prefix, std::uint32_t seq);

/// Adds `prefix dev ifname` to the main table. A route to the same prefix that wgsd did not add is
/// never replaced nor deleted: wg::Error (EEXIST) says so; one of wgsd's own on `ifname` is made
/// anew. Throws wg::Error naming the interface and the prefix.
void add_route(const std::string& ifname, const Prefix& prefix);
/// Deletes wgsd's `prefix dev ifname` from the main table (a route another protocol added is not
/// matched); a route that is not there is no error.
/// Throws wg::Error naming the interface and the prefix.
void delete_route(const std::string& ifname, const Prefix& prefix);
/// The routes of the main table through `ifname` that carry wgsd's protocol: what wgsd added there
/// (and nothing anyone else did). Throws wg::Error naming the interface.
std::vector<Prefix> list_routes(const std::string& ifname);

}  // namespace wgsd::wg
