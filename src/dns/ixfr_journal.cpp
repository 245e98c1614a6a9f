#include "dns/ixfr_journal.hpp"

#include "dns/zone.hpp"

namespace wgsd::dns {

bool journal_steps(const Zone& zone, std::uint32_t serial, std::vector<std::shared_ptr<const JournalDelta>>& out) {
  out.clear();
  if (serial == zone.serial) return true;
  if (!zone.journal) return false;
  const auto& steps = zone.journal->steps;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    if (steps[i]->from_serial != serial) continue;
    out.assign(steps.begin() + static_cast<std::ptrdiff_t>(i), steps.end());
    return !out.empty() && out.back()->to_serial == zone.serial;
  }
  return false;
}

}  // namespace wgsd::dns
