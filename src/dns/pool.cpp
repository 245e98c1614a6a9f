// The pool's per-query draw: a weighted random order from a fast per-thread generator.
#include "dns/pool.hpp"

#include <sys/random.h>

#include <algorithm>
#include <array>

#include "dns/wire.hpp"

namespace wgsd::dns {
namespace {

// wyrand: one multiply per draw, good enough statistically for balancing (it passes BigCrush), and
// never used for anything secret. Seeded per thread from the kernel.
struct Random {
  std::uint64_t state{};
  bool seeded{};

  std::uint64_t next() {
    if (!seeded) {
      std::uint64_t s = 0;
      if (::getrandom(&s, sizeof s, 0) != static_cast<ssize_t>(sizeof s)) s = reinterpret_cast<std::uintptr_t>(this) ^ 0x9e3779b97f4a7c15ULL;
      state = s;
      seeded = true;
    }
    state += 0xa0761d6478bd642fULL;
    const unsigned __int128 t = static_cast<unsigned __int128>(state) * (state ^ 0xe7037ed1a0b428dbULL);
    return static_cast<std::uint64_t>(t >> 64) ^ static_cast<std::uint64_t>(t);
  }
  // Uniform in [0, bound) (Lemire's multiply-shift; the bias for a bound this small is below 2^-40).
  std::uint64_t below(std::uint64_t bound) {
    return static_cast<std::uint64_t>((static_cast<unsigned __int128>(next()) * bound) >> 64);
  }
};

thread_local Random random_source;

}  // namespace

bool PoolView::fail_open() const {
  return std::none_of(members.begin(), members.end(), [](const PoolMemberView& m) { return m.healthy && m.endpoint; });
}

bool PoolView::answered(std::size_t i) const {
  const PoolMemberView& m = members.at(i);
  return m.endpoint && (m.healthy || fail_open());
}

std::span<const std::uint16_t> PoolSnapshot::weights(const std::byte* block, std::uint16_t qtype) const {
  if (block == address_block) {
    if (qtype == type::a) return weights_a;
    if (qtype == type::aaaa) return weights_aaaa;
  }
  if (block == service_block && qtype == type::srv) return weights_srv;
  return {};
}

std::size_t draw_order(std::span<const std::uint16_t> weights, std::span<std::uint16_t> order) {
  std::array<std::uint32_t, max_pool_members> left{};
  const std::size_t n = std::min(weights.size(), max_pool_members);
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < n; ++i) {
    left[i] = weights[i];
    total += weights[i];
  }
  std::size_t drawn = 0;
  Random& r = random_source;
  while (drawn < order.size() && total > 0) {
    std::uint64_t x = r.below(total);
    std::size_t i = 0;
    while (x >= left[i]) x -= left[i++];
    order[drawn++] = static_cast<std::uint16_t>(i);
    total -= left[i];
    left[i] = 0;
  }
  return drawn;
}

void seed_pool_random(std::uint64_t seed) {
  random_source.state = seed;
  random_source.seeded = true;
}

}  // namespace wgsd::dns
