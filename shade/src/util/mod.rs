//! Small utilities the collector's mechanisms are built from: OS memory
//! calls, CPU clocks, prefetching. Nothing here knows about objects or spans.

pub(crate) mod os;

/// Asks the CPU to start loading the cache line at `p`, so a later load
/// of it hits. Used where the collector knows its next addresses in advance
/// (the marker's grey objects, the barrier flush's entries).
#[inline(always)]
pub(crate) fn prefetch(p: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint: it never faults and has no
    // architectural effect, whatever the address; SSE is part of x86_64.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p as *const i8)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
