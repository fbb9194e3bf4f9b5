//! Operating-system memory: reserve a large virtual region once, give pages
//! back with `madvise`, read per-thread CPU time.
//!
//! The heap reserves its whole arena in one `mmap` with `MAP_NORESERVE`, so
//! the kernel commits physical pages only when they are first touched. That
//! keeps address → span lookup a subtraction and a shift (the arena is one
//! contiguous range), and it is why "returning memory to the OS" is a
//! `madvise(DONTNEED)` on free page runs rather than an `munmap`.

use std::ptr::NonNull;

/// An anonymous, private, read-write mapping owned by the heap.
pub(crate) struct Region {
    base: NonNull<u8>,
    len: usize,
}

// SAFETY: a `Region` is a plain address range; it is shared by reference and
// unmapped only by its owner's `Drop`, after every user of the heap is gone.
unsafe impl Send for Region {}
// SAFETY: see above; the region itself carries no interior state.
unsafe impl Sync for Region {}

impl Region {
    /// Reserves `len` bytes (a multiple of the system page size), aligned to
    /// `align` (a power of two). Memory reads as zero until written.
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

    pub(crate) fn base(&self) -> usize {
        self.base.as_ptr() as usize
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Tells the kernel it may drop the physical pages of `[addr, addr+len)`;
    /// later reads see zeros. Failure only means the memory stays resident.
    pub(crate) fn release(&self, addr: usize, len: usize) -> bool {
        debug_assert!(addr >= self.base() && addr + len <= self.base() + self.len);
        // SAFETY: the range is inside our mapping and holds no live objects
        // (the page heap only releases free page runs).
        unsafe { rustix::mm::madvise(addr as *mut _, len, rustix::mm::Advice::LinuxDontNeed) }.is_ok()
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: the heap that owned this region is gone, so no object in
        // it can be reached any more.
        let _ = unsafe { rustix::mm::munmap(self.base.as_ptr().cast(), self.len) };
    }
}

/// CPU time consumed by the calling thread.
pub(crate) fn thread_cpu_time() -> std::time::Duration {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// CPU time consumed by the whole process.
pub(crate) fn process_cpu_time() -> std::time::Duration {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}
