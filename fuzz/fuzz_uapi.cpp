// The UAPI get parser: any text is a device or a wg::Error.
#include <string_view>

#include "wg/error.hpp"
#include "wg/uapi_codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    (void)wgsd::wg::parse_uapi_get(text, "wg0");
  } catch (const wgsd::wg::Error&) {
  }
  try {
    wgsd::wg::parse_uapi_set_reply(text, "wg0");
  } catch (const wgsd::wg::Error&) {
  }
  return 0;
}
