// Zeroing of receive buffers that have held a device's secrets.
#pragma once

#include <sodium.h>

#include <cstddef>

namespace wgsd::wg {

// Zeroes the first `used` bytes of a receive buffer when a request ends, however it ends, and
// resets `used`: a device's reply starts with its private key.
class WipeOnExit {
public:
  WipeOnExit(void* buf, std::size_t& used) : buf_(buf), used_(used) {}
  WipeOnExit(const WipeOnExit&) = delete;
  WipeOnExit& operator=(const WipeOnExit&) = delete;
  WipeOnExit(WipeOnExit&&) = delete;
  WipeOnExit& operator=(WipeOnExit&&) = delete;
  ~WipeOnExit() {
    sodium_memzero(buf_, used_);
    used_ = 0;
  }

private:
  void* buf_;
  std::size_t& used_;
};

}  // namespace wgsd::wg
