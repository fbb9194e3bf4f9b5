//! The page allocator: hands out runs of pages from the arena and takes
//! them back, coalescing neighbours (Go's pageAlloc, simplified).
//!
//! Pages are numbered from the arena base. Never-used pages are taken from a
//! bump pointer (`fresh`); freed runs go into two ordered maps, by address
//! (to merge with neighbours on free) and by (length, address) (best fit on
//! allocation: the smallest run that fits, lowest address first, which keeps
//! the heap dense and fragmentation low).
//!
//! Free runs remember the cycle they were freed in. The scavenger gives free
//! runs back to the OS (`madvise`) while the heap retains more memory than
//! it is expected to need (the caller's `keep`, from the heap goal): the runs
//! free the longest first, and only runs free for a few cycles, since pages
//! freed by the last sweep are usually taken again by the next allocations
//! and releasing them would only cost page faults. A scavenged run is still
//! free and reusable, its pages simply read as zero when touched again.
//! This type does the bookkeeping only; the caller does the `madvise`.

use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Copy, Debug)]
struct Run {
    npages: usize,
    freed_cycle: u64,
    scavenged: bool,
}

/// Page-run bookkeeping for one arena. Not thread-safe: the heap wraps it
/// in a lock, taken only on span-sized operations (never per object).
pub(crate) struct PageAlloc {
    total: usize,
    fresh: usize,
    by_addr: BTreeMap<usize, Run>,
    by_size: BTreeSet<(usize, usize)>,
    in_use: usize,
    released: usize,
}

impl PageAlloc {
    pub(crate) fn new(total_pages: usize) -> PageAlloc {
        PageAlloc {
            total: total_pages,
            fresh: 0,
            by_addr: BTreeMap::new(),
            by_size: BTreeSet::new(),
            in_use: 0,
            released: 0,
        }
    }

    /// Pages currently handed out.
    pub(crate) fn in_use(&self) -> usize {
        self.in_use
    }

    /// Pages ever touched and not given back to the OS: an upper bound of
    /// the heap's resident memory.
    pub(crate) fn retained(&self) -> usize {
        self.fresh - self.released
    }

    fn insert(&mut self, start: usize, run: Run) {
        self.by_addr.insert(start, run);
        self.by_size.insert((run.npages, start));
    }

    fn remove(&mut self, start: usize) -> Run {
        let run = self.by_addr.remove(&start).expect("free run");
        self.by_size.remove(&(run.npages, start));
        if run.scavenged {
            self.released -= run.npages;
        }
        run
    }

    /// Allocates `n` contiguous pages; returns the first page number.
    pub(crate) fn alloc(&mut self, n: usize) -> Option<usize> {
        debug_assert!(n > 0);
        if let Some(&(len, start)) = self.by_size.range((n, 0)..).next() {
            let run = self.remove(start);
            debug_assert_eq!(run.npages, len);
            if len > n {
                // Return the tail; it keeps its scavenged state.
                let tail = Run { npages: len - n, ..run };
                if tail.scavenged {
                    self.released += tail.npages;
                }
                self.insert(start + n, tail);
            }
            self.in_use += n;
            return Some(start);
        }
        if self.fresh + n <= self.total {
            let start = self.fresh;
            self.fresh += n;
            self.in_use += n;
            return Some(start);
        }
        None
    }

    /// Frees the `n` pages starting at `start`, merging with free neighbours.
    pub(crate) fn free(&mut self, start: usize, n: usize, cycle: u64) {
        self.in_use -= n;
        let mut start = start;
        let mut run = Run { npages: n, freed_cycle: cycle, scavenged: false };
        // Merge with the run just before.
        if let Some((&pstart, &prev)) = self.by_addr.range(..start).next_back() {
            if pstart + prev.npages == start {
                self.remove(pstart);
                start = pstart;
                run.npages += prev.npages;
            }
        }
        // Merge with the run just after.
        if let Some(&next) = self.by_addr.get(&(start + run.npages)) {
            self.remove(start + run.npages);
            run.npages += next.npages;
        }
        // A merged run is only partly released; treat it as resident (the
        // scavenger may release it again, which is harmless). Free runs at
        // the top of the heap stay runs too (rather than going back to the
        // bump region), so the scavenger returns their memory to the OS.
        self.insert(start, run);
    }

    /// While more than `keep` pages are resident (in use, or free and not
    /// released), takes free runs of at least `min_pages` that have been
    /// free since before `cycle - min_age` out of the free lists,
    /// longest-free first (then highest address first), and returns them
    /// (start, npages). The caller `madvise`s them without holding the
    /// page heap's lock (no allocation can get them meanwhile: they are on
    /// no list) and then hands them back with `put_released`.
    pub(crate) fn scavenge(&mut self, cycle: u64, min_age: u64, min_pages: usize, keep: usize) -> Vec<(usize, usize)> {
        let mut resident = self.in_use + self.free_resident();
        if resident <= keep {
            return Vec::new();
        }
        let mut candidates: Vec<(u64, std::cmp::Reverse<usize>)> = self
            .by_addr
            .iter()
            .filter(|(_, r)| !r.scavenged && r.npages >= min_pages && r.freed_cycle + min_age <= cycle)
            .map(|(&start, r)| (r.freed_cycle, std::cmp::Reverse(start)))
            .collect();
        candidates.sort_unstable();
        let mut out = Vec::new();
        for (_, std::cmp::Reverse(start)) in candidates {
            if resident <= keep {
                break;
            }
            let run = self.remove(start);
            resident -= run.npages;
            out.push((start, run.npages));
        }
        out
    }

    /// Returns a run taken by `scavenge` to the free lists, merged with
    /// neighbours in the same state: `released` says whether the OS took
    /// its pages (the `madvise` may fail; the run then stays resident).
    pub(crate) fn put_released(&mut self, start: usize, n: usize, cycle: u64, released: bool) {
        let mut start = start;
        let mut run = Run { npages: n, freed_cycle: cycle, scavenged: released };
        if let Some((&pstart, &prev)) = self.by_addr.range(..start).next_back() {
            if prev.scavenged == released && pstart + prev.npages == start {
                self.remove(pstart);
                start = pstart;
                run.npages += prev.npages;
            }
        }
        if let Some(&next) = self.by_addr.get(&(start + run.npages)) {
            if next.scavenged == released {
                self.remove(start + run.npages);
                run.npages += next.npages;
            }
        }
        if released {
            self.released += run.npages;
        }
        self.insert(start, run);
    }

    /// Pages that have been touched but are now free and not released.
    pub(crate) fn free_resident(&self) -> usize {
        self.by_addr.values().filter(|r| !r.scavenged).map(|r| r.npages).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alloc_free_coalesce() {
        let mut p = PageAlloc::new(100);
        let a = p.alloc(10).unwrap();
        let b = p.alloc(5).unwrap();
        let c = p.alloc(20).unwrap();
        assert_eq!((a, b, c), (0, 10, 15));
        assert_eq!(p.in_use(), 35);
        p.free(a, 10, 1);
        p.free(b, 5, 1);
        // a and b merged into one run of 15.
        assert_eq!(p.by_addr.len(), 1);
        assert_eq!(p.by_addr[&0].npages, 15);
        // Best fit: a 12-page request reuses the 15-page run.
        assert_eq!(p.alloc(12), Some(0));
        assert_eq!(p.by_addr[&12].npages, 3);
        // Freeing the top run merges it with the free tail [12, 15); the run
        // stays a free run, so the scavenger can release it.
        p.free(c, 20, 2);
        assert_eq!(p.by_addr[&12].npages, 23);
        assert_eq!(p.scavenge(10, 1, 1, 0), vec![(12, 23)]);
        p.put_released(12, 23, 10, true);
    }

    #[test]
    fn exhaustion_returns_none() {
        let mut p = PageAlloc::new(8);
        assert!(p.alloc(8).is_some());
        assert!(p.alloc(1).is_none());
    }

    #[test]
    fn scavenge_only_old_runs() {
        let mut p = PageAlloc::new(100);
        let a = p.alloc(10).unwrap();
        let _keep = p.alloc(1).unwrap();
        let b = p.alloc(10).unwrap();
        let _keep2 = p.alloc(1).unwrap();
        p.free(a, 10, 1);
        p.free(b, 10, 5);
        let got = p.scavenge(5, 2, 4, 0);
        assert_eq!(got, vec![(a, 10)]);
        // Taken out for release: no allocation can get it meanwhile (this
        // one gets `b`, the other free run).
        assert_eq!(p.alloc(10), Some(b));
        p.put_released(a, 10, 5, true);
        assert_eq!(p.retained(), 22 - 10);
        // Reusing a scavenged run makes it resident again.
        assert_eq!(p.alloc(10), Some(a));
        assert_eq!(p.retained(), 22);
    }

    #[test]
    fn scavenge_stops_at_keep_and_releases_the_longest_free_first() {
        let mut p = PageAlloc::new(100);
        let runs: Vec<usize> = (0..4).map(|_| p.alloc(10).unwrap()).collect();
        let _keep = p.alloc(1).unwrap();
        // Freed in cycles 1, 3, 2, 4; no neighbours merge (every other run).
        p.free(runs[0], 10, 1);
        p.free(runs[2], 10, 2);
        assert_eq!(p.retained(), 41);
        // Resident: 21 in use + 20 free. Keeping 41 releases nothing.
        assert!(p.scavenge(10, 1, 1, 41).is_empty());
        // Keeping 35 releases one run: the one freed first.
        assert_eq!(p.scavenge(10, 1, 1, 35), vec![(runs[0], 10)]);
        p.put_released(runs[0], 10, 10, true);
        // Keeping 0 releases the rest.
        assert_eq!(p.scavenge(10, 1, 1, 0), vec![(runs[2], 10)]);
        p.put_released(runs[2], 10, 10, true);
        assert_eq!(p.retained(), 21);
    }
}
