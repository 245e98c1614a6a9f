// What the allocator keeps of the memory the refresher frees. A refresh parses the whole device
// (about 300 bytes a peer: the peers, their published form, their digests) and frees it again;
// without this, glibc keeps that memory resident between refreshes and the process holds the
// snapshot plus a whole parse.
#pragma once

namespace wgsd::server {

/// Once at start-up, before the threads: blocks of 256 KiB or more (a device's peer list, a
/// PTR set, an index) are mapped on their own and unmapped when freed, and an arena gives back
/// its free top past 1 MiB. glibc's default raises both thresholds as soon as a large block is
/// freed (up to 32 and 64 MiB), after which every later parse stays in the arena it ran in.
void limit_allocator_retention() noexcept;

/// Gives the free pages of every arena back to the system: what a refresh freed (the parsed
/// device, a replaced snapshot) inside the arenas, where no threshold reaches it. For the
/// refresher only, after a refresh: it walks the allocator's free lists, never on the query path.
void release_free_memory() noexcept;

}  // namespace wgsd::server
