#include "server/memory.hpp"

#include <malloc.h>

namespace wgsd::server {
namespace {

constexpr int mmap_threshold = 256 << 10;
constexpr int trim_threshold = 1 << 20;

}  // namespace

void limit_allocator_retention() noexcept {
  // Setting either fixes both: glibc stops raising them after a large free.
  (void)::mallopt(M_MMAP_THRESHOLD, mmap_threshold);
  (void)::mallopt(M_TRIM_THRESHOLD, trim_threshold);
}

void release_free_memory() noexcept { (void)::malloc_trim(0); }

}  // namespace wgsd::server
