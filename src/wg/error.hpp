// wg::Error: every failure of a WireGuard backend, with the operation and device in the message.
#pragma once

#include <string>
#include <system_error>

namespace wgsd::wg {

/// A backend or system failure. `code()` is `std::errc::no_such_device` when the device is absent,
/// so callers can tell "not there" from "broken" without parsing the message.
class Error : public std::system_error {
public:
  /// The message is `what` alone: it already says what went wrong in the user's words.
  Error(std::errc code, const std::string& what) : std::system_error(std::make_error_code(code), what), message_(what) {}
  /// The message is `what` followed by ": " and the errno text, as perror does.
  Error(int errno_value, const std::string& what)
      : std::system_error(errno_value, std::generic_category(), what), message_(std::system_error::what()) {}

  [[nodiscard]] const char* what() const noexcept override { return message_.c_str(); }

  [[nodiscard]] bool no_such_device() const noexcept {
    return code() == std::make_error_code(std::errc::no_such_device);
  }

private:
  std::string message_;
};

}  // namespace wgsd::wg
