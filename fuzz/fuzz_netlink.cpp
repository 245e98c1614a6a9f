// The netlink dump parser: any bytes are a device or a wg::Error.
#include "wg/error.hpp"
#include "wg/netlink_codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  try {
    (void)wgsd::wg::parse_device_messages(bytes, "wg0");
  } catch (const wgsd::wg::Error&) {
  }
  try {
    (void)wgsd::wg::parse_family_id(bytes);
  } catch (const wgsd::wg::Error&) {
  }
  return 0;
}
