//! Loom model of span-batched marking's claim protocol (gc/mark.rs,
//! `scan_span`; heap/span.rs, `grey_and_claim`, `release_span`; DESIGN.md
//! §5, "Span-batched marking").
//!
//! Like the other loom tests this is a REDUCED MODEL written against loom's
//! atomics, mirroring the real functions by name; if they change, it must
//! be updated by hand. What it checks is the one race the unit tests cannot
//! reliably hit: a marker greys an object of a span while the span's owner
//! is giving the span up. The protocol must leave no grey bit in a span
//! that nobody owns (a grey object never scanned: a live object freed).
//!
//! Modelled, for one span of up to 64 objects: its `grey` word and its
//! `queued` flag, with the orderings of the real code (every write of
//! `queued` a swap, acquire and release; grey bits set with a release
//! read-modify-write, taken with an acquire swap). A thread that claims
//! the span (`grey_and_claim` returned true) stands for the marker that
//! will later take the span's entry out of a work buffer: it runs the
//! owner's loop itself. Scanning object `i` records it in `scanned`.
//!
//! Checked after every execution: every greyed object was scanned at least
//! once, no grey bit is left, and the span is not queued.
//!
//! `SHADE_LOOM_BREAK=no-recheck` drops the owner's last look at the grey
//! bits after clearing `queued` (what `release_span` is for), and
//! `SHADE_LOOM_BREAK=relaxed` makes the swaps relaxed: both make the
//! model fail ("object 1 was greyed but never scanned").
//!
//! Run: `cargo test -p shade-gc --test loom_span_mark --release` (also in
//! debug, where `cargo test --workspace` runs it in about a second).

use loom::sync::atomic::{AtomicBool, AtomicU64};
use loom::sync::Arc;
use loom::thread;
use std::sync::atomic::Ordering::{self, *};

struct SpanModel {
    grey: AtomicU64,
    queued: AtomicBool,
    /// Bit `i`: object `i` was scanned (by any owner).
    scanned: AtomicU64,
}

fn brk(what: &str) -> bool {
    std::env::var("SHADE_LOOM_BREAK").is_ok_and(|v| v == what)
}

/// The ordering of the protocol's swaps (`relaxed` breaks it).
fn rmw() -> Ordering {
    if brk("relaxed") {
        Relaxed
    } else {
        AcqRel
    }
}

impl SpanModel {
    /// `Span::grey_and_claim`: grey object `i`; true if the caller now owns
    /// the span and must queue it.
    fn grey_and_claim(&self, i: u32) -> bool {
        self.grey.fetch_or(1 << i, rmw());
        !self.queued.swap(true, rmw())
    }

    /// `Span::release_span`: true if the owner is done with the span.
    fn release_span(&self) -> bool {
        self.queued.swap(false, rmw());
        if brk("no-recheck") {
            return true;
        }
        self.grey.load(Acquire) == 0 || self.queued.swap(true, rmw())
    }

    /// `Marker::scan_span`: scan grey objects until a pass finds none, then
    /// give the span up (scanning marks nothing further in this model).
    fn scan_span(&self) {
        loop {
            // `Bitmap::take_word`: a load first, a swap only if non-empty.
            let bits = if self.grey.load(Acquire) == 0 { 0 } else { self.grey.swap(0, rmw()) };
            if bits != 0 {
                self.scanned.fetch_or(bits, Relaxed);
            } else if self.release_span() {
                break;
            }
        }
    }

    /// A marker greying object `i`: if it claims the span, it owns it.
    fn mark(&self, i: u32) {
        if self.grey_and_claim(i) {
            self.scan_span();
        }
    }
}

/// Runs `f` over every interleaving; `greyed` are the objects the scenario
/// greys in all.
fn check(greyed: u64, f: impl Fn(Arc<SpanModel>) + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(3);
    b.check(move || {
        let s =
            Arc::new(SpanModel { grey: AtomicU64::new(0), queued: AtomicBool::new(false), scanned: AtomicU64::new(0) });
        f(s.clone());
        let scanned = s.scanned.load(Relaxed);
        for i in 0..64 {
            assert!(greyed & (1 << i) == 0 || scanned & (1 << i) != 0, "object {i} was greyed but never scanned");
        }
        assert_eq!(s.grey.load(Relaxed), 0, "a grey bit is left in the span");
        assert!(!s.queued.load(Relaxed), "the span is still queued");
    });
}

/// The owner scans object 0 and gives the span up while another marker
/// greys object 1.
#[test]
fn a_bit_set_while_the_owner_gives_the_span_up_is_scanned() {
    check(0b11, |s| {
        assert!(s.grey_and_claim(0), "the first grey claims the span");
        let other = {
            let s = s.clone();
            thread::spawn(move || s.mark(1))
        };
        s.scan_span();
        other.join().unwrap();
    });
}

/// Two markers grey objects of a span its owner is scanning; one greys
/// twice (the second bit may land after its first claim attempt failed).
#[test]
fn two_markers_and_the_owner() {
    check(0b1111, |s| {
        assert!(s.grey_and_claim(0));
        let a = {
            let s = s.clone();
            thread::spawn(move || {
                s.mark(1);
                s.mark(2);
            })
        };
        let b = {
            let s = s.clone();
            thread::spawn(move || s.mark(3))
        };
        s.scan_span();
        a.join().unwrap();
        b.join().unwrap();
    });
}
