//! Operating-system memory: reserve a large virtual region once, give pages
//! back with `madvise`, read per-thread CPU time.
//!
//! The heap reserves its whole arena in one `mmap` with `MAP_NORESERVE`, so
//! the kernel commits physical pages only when they are first touched. That
//! keeps address → span lookup a subtraction and a shift (the arena is one
//! contiguous range), and it is why "returning memory to the OS" is a
//! `madvise(DONTNEED)` on free page runs rather than an `munmap`.
//!
//! Under Miri, which can interpret neither `mmap(MAP_NORESERVE)` nor the
//! CPU-time clocks, the arena is an ordinary zeroed heap allocation of the
//! requested (small: see `Config::reserve`) size, `release` zeroes the range
//! instead of dropping the pages, and the CPU clocks read the monotonic
//! clock. Everything above this module runs unchanged.

use std::ptr::NonNull;

/// An anonymous, private, read-write mapping owned by the heap.
pub(crate) struct Region {
    base: NonNull<u8>,
    len: usize,
    /// Under Miri: the layout the arena was allocated with, to free it.
    #[cfg(miri)]
    layout: std::alloc::Layout,
}

/// Largest arena Miri is asked for. Miri backs an allocation with real
/// (lazily zeroed) host memory and aborts the whole run when the host
/// refuses, so a larger request fails as an ordinary `io::Error` instead.
#[cfg(miri)]
const MIRI_MAX_RESERVE: usize = 4 << 30;

// SAFETY: a `Region` is a plain address range; it is shared by reference and
// unmapped only by its owner's `Drop`, after every user of the heap is gone.
unsafe impl Send for Region {}
// SAFETY: see above; the region itself carries no interior state.
unsafe impl Sync for Region {}

impl Region {
    /// Reserves `len` bytes (a multiple of the system page size), aligned to
    /// `align` (a power of two). Memory reads as zero until written.
    #[cfg(not(miri))]
    pub(crate) fn reserve(len: usize, align: usize) -> std::io::Result<Region> {
        use rustix::mm::{mmap_anonymous, munmap, MapFlags, ProtFlags};
        let total = len + align;
        // SAFETY: an anonymous mapping at an address of the kernel's choice
        // aliases no existing Rust object.
        let raw = unsafe {
            mmap_anonymous(
                std::ptr::null_mut(),
                total,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::PRIVATE | MapFlags::NORESERVE,
            )
        }?;
        let start = raw as usize;
        let aligned = (start + align - 1) & !(align - 1);
        // Trim the unaligned head and the tail so exactly `len` bytes stay.
        let head = aligned - start;
        let tail = total - head - len;
        // SAFETY: both trimmed ranges lie inside the mapping we just made and
        // nothing refers to them.
        unsafe {
            if head > 0 {
                munmap(raw, head)?;
            }
            if tail > 0 {
                munmap((aligned + len) as *mut _, tail)?;
            }
        }
        Ok(Region { base: NonNull::new(aligned as *mut u8).expect("mmap returned null"), len })
    }

    /// Miri: `len` zeroed bytes from the global allocator, aligned to
    /// `align`. Miri cannot interpret `mmap(MAP_NORESERVE)`.
    #[cfg(miri)]
    pub(crate) fn reserve(len: usize, align: usize) -> std::io::Result<Region> {
        use std::io::{Error, ErrorKind};
        if len > MIRI_MAX_RESERVE {
            return Err(Error::new(
                ErrorKind::OutOfMemory,
                format!("arena of {len} bytes is larger than the {MIRI_MAX_RESERVE} bytes allowed under Miri"),
            ));
        }
        let layout = std::alloc::Layout::from_size_align(len.max(1), align)
            .map_err(|e| Error::new(ErrorKind::InvalidInput, e.to_string()))?;
        // SAFETY: the layout has a non-zero size (`len.max(1)`).
        let p = unsafe { std::alloc::alloc_zeroed(layout) };
        let base = NonNull::new(p).ok_or_else(|| Error::from(ErrorKind::OutOfMemory))?;
        // The collector reaches objects from integer addresses (base +
        // offset, then `as *const T`): expose the allocation's provenance so
        // those casts get it, as they do for the mmap'd arena.
        let _ = base.as_ptr().expose_provenance();
        Ok(Region { base, len, layout })
    }

    pub(crate) fn base(&self) -> usize {
        self.base.as_ptr() as usize
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Tells the kernel it may drop the physical pages of `[addr, addr+len)`;
    /// later reads see zeros. Failure only means the memory stays resident.
    #[cfg(not(miri))]
    pub(crate) fn release(&self, addr: usize, len: usize) -> bool {
        debug_assert!(addr >= self.base() && addr + len <= self.base() + self.len);
        // SAFETY: the range is inside our mapping and holds no live objects
        // (the page heap only releases free page runs).
        unsafe { rustix::mm::madvise(addr as *mut _, len, rustix::mm::Advice::LinuxDontNeed) }.is_ok()
    }

    /// Miri: what `madvise(DONTNEED)` promises, later reads see zeros, done
    /// by writing the zeros (Miri has no `madvise`). As a write, it also lets
    /// Miri's race detector see any access that overlaps a release.
    #[cfg(miri)]
    pub(crate) fn release(&self, addr: usize, len: usize) -> bool {
        debug_assert!(addr >= self.base() && addr + len <= self.base() + self.len);
        // SAFETY: the range is inside our allocation (checked above: offset
        // and length stay within `self.len`) and holds no live objects (the
        // page heap only releases free page runs, taken off its free lists
        // for the duration), so nothing reads or writes it concurrently.
        unsafe { self.base.as_ptr().add(addr - self.base()).write_bytes(0, len) };
        true
    }
}

impl Drop for Region {
    #[cfg(not(miri))]
    fn drop(&mut self) {
        // SAFETY: the heap that owned this region is gone, so no object in
        // it can be reached any more.
        let _ = unsafe { rustix::mm::munmap(self.base.as_ptr().cast(), self.len) };
    }

    #[cfg(miri)]
    fn drop(&mut self) {
        // SAFETY: `base` came from `alloc_zeroed` with `layout` in
        // `reserve`, and the heap that owned this region is gone, so no
        // object in it can be reached any more.
        unsafe { std::alloc::dealloc(self.base.as_ptr(), self.layout) };
    }
}

/// CPU time consumed by the calling thread.
#[cfg(not(miri))]
pub(crate) fn thread_cpu_time() -> std::time::Duration {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// CPU time consumed by the whole process.
#[cfg(not(miri))]
pub(crate) fn process_cpu_time() -> std::time::Duration {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Miri: monotonic time since the first call. Miri has no CPU-time clocks;
/// the collector only subtracts two readings (and divides by the process
/// reading for a statistic), for which elapsed time is a fine stand-in. With
/// isolation on, Miri's monotonic clock is virtual, so no host access.
#[cfg(miri)]
fn miri_elapsed() -> std::time::Duration {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed()
}

/// CPU time consumed by the calling thread (Miri: see `miri_elapsed`).
#[cfg(miri)]
pub(crate) fn thread_cpu_time() -> std::time::Duration {
    miri_elapsed()
}

/// CPU time consumed by the whole process (Miri: see `miri_elapsed`).
#[cfg(miri)]
pub(crate) fn process_cpu_time() -> std::time::Duration {
    miri_elapsed()
}
