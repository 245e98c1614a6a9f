// The kernel's generic netlink "wireguard" family: pure codec (no sockets), after wireguard-tools ipc-linux.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "wg/types.hpp"

struct nlmsghdr;

namespace wgsd::wg {

/// Parses a WG_CMD_GET_DEVICE dump: one or more netlink messages back to back, possibly ending in
/// NLMSG_DONE. A peer split over several messages (its allowed IPs did not fit) is merged, as
/// wireguard-tools' coalesce_peers does. The private key is skipped (and zeroed in the parse's own
/// copy of the messages), unknown attributes too; a wrong length, a truncated
/// message or an NLMSG_ERROR throws wg::Error naming the attribute. `device` is used in messages.
Device parse_device_messages(std::span<const std::byte> data, const std::string& device);

/// Zeroes, in place, the payload of every WGDEVICE_A_PRIVATE_KEY attribute of one WG_CMD_GET_DEVICE
/// reply message (4-byte aligned, `nlh->nlmsg_len` bytes readable). The parse never reads the
/// private key: the receive buffer is wiped before anything is copied from it.
void wipe_private_key(::nlmsghdr* nlh);

/// Builds the WG_CMD_GET_DEVICE dump request for `device`.
std::vector<std::byte> build_get_device(std::uint16_t family_id, std::uint32_t seq, const std::string& device);

/// The largest WG_CMD_SET_DEVICE message build_set_device writes, as wg(8) does (one page, at most
/// 8 KiB): far below the 64 KiB a netlink attribute's 16-bit length can describe.
inline constexpr std::size_t set_device_message_limit = 8192;
/// The smallest limit build_set_device accepts: one peer with every attribute and one allowed IP.
inline constexpr std::size_t set_device_message_minimum = 256;

/// Builds WG_CMD_SET_DEVICE for `update` as one or more messages of at most `limit` bytes (raised to
/// set_device_message_minimum), numbered `first_seq`, `first_seq + 1`, ...; each is sent and
/// acknowledged in turn. Per peer: the public key, then WGPEER_F_REMOVE_ME alone, or
/// WGPEER_F_UPDATE_ONLY, the endpoint, the keepalive and the allowed IPs (with
/// WGPEER_F_REPLACE_ALLOWEDIPS) as far as the update gives them; never a private key, listen port or
/// fwmark. When the next attribute does not fit, the message ends and the next one carries the
/// device name again and continues where it stopped, as wg(8) does: a peer cut inside its allowed
/// IPs is repeated with its key (and WGPEER_F_UPDATE_ONLY if it had it) and the rest of its allowed
/// IPs, without WGPEER_F_REPLACE_ALLOWEDIPS, which only its first part carries.
std::vector<std::vector<std::byte>> build_set_device(std::uint16_t family_id, std::uint32_t first_seq, const DeviceUpdate& update,
                                                     std::size_t limit = set_device_message_limit);

/// True if a whole netlink message of nlmsg_len bytes starts at `nlh` with `left` bytes available.
/// Unlike mnl_nlmsg_ok, safe for lengths over 2^31.
bool message_ok(const ::nlmsghdr* nlh, int left);

/// The errno carried by an NLMSG_ERROR's (negative) error field; EPROTO when it is not one.
int error_code(int nlmsg_error);

/// Builds CTRL_CMD_GETFAMILY for "wireguard".
std::vector<std::byte> build_get_family(std::uint32_t seq);
/// Family id from the reply to CTRL_CMD_GETFAMILY; throws wg::Error when absent.
std::uint16_t parse_family_id(std::span<const std::byte> data);

}  // namespace wgsd::wg
