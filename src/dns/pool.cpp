// The pool's per-query draw: a weighted random order from a fast per-thread generator.
#include "dns/pool.hpp"

#include <sys/random.h>

#include <algorithm>
#include <array>
#include <utility>

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

// Weighted draws without replacement over a small fixed array: the members still in the draw are
// kept packed at the front (a drawn one is replaced by the last), so each draw looks only at those
// left. The slot a draw lands in is found without a branch per member (the number of running sums
// at or below the drawn point), which keeps the branch predictor out of the cost of a random pick.
// Equal weights, the common case, are a partial Fisher-Yates shuffle: one multiply per draw.
std::size_t draw_order(std::span<const std::uint16_t> weights, std::span<std::uint16_t> order) {
  std::array<std::uint16_t, max_pool_members> index;  // only the first `left` are ever read
  std::array<std::uint32_t, max_pool_members> weight;
  const std::size_t n = std::min(weights.size(), max_pool_members);
  std::size_t left = 0;
  std::uint64_t total = 0;
  bool equal = true;
  for (std::size_t i = 0; i < n; ++i) {
    if (weights[i] == 0) continue;  // never drawn
    index[left] = static_cast<std::uint16_t>(i);
    weight[left] = weights[i];
    equal = equal && weights[i] == weight[0];
    total += weights[i];
    ++left;
  }
  const std::size_t want = std::min(order.size(), left);
  Random& r = random_source;
  if (equal) {
    for (std::size_t k = 0; k < want; ++k) {
      const std::size_t j = k + static_cast<std::size_t>(r.below(left - k));
      std::swap(index[k], index[j]);
      order[k] = index[k];
    }
    return want;
  }
  for (std::size_t k = 0; k < want; ++k) {
    const std::uint64_t x = r.below(total);
    std::uint64_t sum = 0;
    std::size_t j = 0;
    for (std::size_t t = 0; t < left; ++t) {
      sum += weight[t];
      j += sum <= x ? 1 : 0;
    }
    order[k] = index[j];
    total -= weight[j];
    --left;
    index[j] = index[left];
    weight[j] = weight[left];
  }
  return want;
}

void seed_pool_random(std::uint64_t seed) {
  random_source.state = seed;
  random_source.seeded = true;
}

}  // namespace wgsd::dns
