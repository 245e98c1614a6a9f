// The UAPI get parser: any text is a device or a wg::Error, and the same one whether it is parsed
// whole or fed in pieces as it arrives from the socket (the piece size comes from the input).
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "wg/error.hpp"
#include "wg/uapi_codec.hpp"

namespace {

struct Outcome {
  std::optional<wgsd::wg::Device> device;
  std::string error;
};

template <typename Parse>
Outcome outcome_of(Parse&& parse) {
  Outcome o;
  try {
    o.device = parse();
  } catch (const wgsd::wg::Error& e) {
    o.error = e.what();
  }
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t piece = 1 + data[0] % 97;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  const Outcome whole = outcome_of([&] { return wgsd::wg::parse_uapi_get(text, "wg0"); });
  const Outcome streamed = outcome_of([&] {
    wgsd::wg::UapiGetParser parser("wg0");
    for (std::size_t at = 0; at < text.size(); at += piece) parser.feed(text.substr(at, piece));
    return parser.finish();
  });
  if (whole.error != streamed.error || whole.device != streamed.device) std::abort();
  try {
    wgsd::wg::parse_uapi_set_reply(text, "wg0");
  } catch (const wgsd::wg::Error&) {
  }
  return 0;
}
