//! Weak references: `Weak<T>`, a field of heap objects, and `WeakRoot<T>`, a
//! `'static` handle.
//!
//! Both point, strongly, to a *weak cell*: a one-word heap object holding
//! the target's address, which the marker never follows and which the
//! collector clears, just after the termination that found the target
//! unreachable (gc/weak.rs has the mechanism and the argument for why
//! upgrading is safe while marking runs, where an upgrade shades its
//! target, and inside the clearing window, where it tests the target's
//! liveness itself). One
//! cell is made per `Weak::new` / `WeakRoot::new`; several may name the same
//! target.

use crate::api::gc::Gc;
use crate::api::mutator::Mutator;
use crate::api::root::Root;
use crate::api::slot::Slot;
use crate::api::trace::{Trace, Tracer};
use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::AtomicUsize;

/// The heap object behind a weak reference: the target's payload address,
/// or 0 once cleared. Its layout is what gc/weak.rs reads (`repr(C)`, the
/// target word first).
#[repr(C)]
pub(crate) struct WeakCell<T> {
    target: AtomicUsize,
    _t: PhantomData<*const T>,
}

// SAFETY: as for `Slot<T>`: upgrading on another thread yields `&T` there,
// so the cell may be shared or sent only if `T: Sync`.
unsafe impl<T: Sync> Sync for WeakCell<T> {}
// SAFETY: as above.
unsafe impl<T: Sync> Send for WeakCell<T> {}

// SAFETY: the target word is deliberately not a traced pointer: the marker
// must not keep the target alive through it. NO_TRACE puts cells in noscan
// spans, so the marker never reads them.
unsafe impl<T> Trace for WeakCell<T> {
    const NO_TRACE: bool = true;
    fn trace(&self, _: &mut Tracer<'_>) {}
}

impl<T: Trace + Sync + 'static> WeakCell<T> {
    fn make<'m>(mu: &'m Mutator, target: Gc<'_, T>) -> Gc<'m, WeakCell<T>> {
        let cell = mu.alloc(WeakCell { target: AtomicUsize::new(target.addr()), _t: PhantomData });
        mu.st.weak.lock().cells.push(cell.addr());
        cell
    }
}

impl<T> WeakCell<T> {
    #[inline]
    fn upgrade<'m>(&self, mu: &'m Mutator) -> Option<Gc<'m, T>> {
        // 0 if cleared, or dead and not yet cleared (the clearing window).
        let p = crate::gc::weak::read_target(mu.runtime(), &self.target);
        if p == 0 {
            return None;
        }
        // The target may not be reachable from the snapshot this cycle's
        // marking works from: shade it, or it could be freed while the
        // mutator stores it somewhere strong (gc/weak.rs). Too late if
        // marking has closed without it: then it is dead.
        if !crate::barrier::shade_weak(mu, p) {
            return None;
        }
        // SAFETY: `read_target` returns only a target that is alive until
        // the next mark termination, which cannot happen during 'm
        // (gc/weak.rs), and it was made from a `Gc<T>`, so it is a `T`.
        Some(unsafe { Gc::from_raw(p) })
    }
}

/// A weak pointer field: refers to a `T` without keeping it alive.
///
/// Build it with [`Weak::new`] like a [`Slot`] (to move into an object being
/// allocated before the next safepoint), read it with
/// [`upgrade`](Weak::upgrade), re-point it with [`set`](Weak::set). Once a
/// collection finds the target unreachable (only weak references left), the
/// reference is cleared and `upgrade` returns `None`.
///
/// ```
/// use shade::{Config, Heap, Slot, Trace, Weak};
///
/// #[derive(Trace)]
/// struct Node { parent: Weak<Node>, value: u64 }
///
/// let heap = Heap::new(Config::default()).unwrap();
/// let mut mu = heap.mutator();
/// let parent = mu.root(mu.alloc(Node { parent: Weak::null(), value: 1 }));
/// let child = mu.root(mu.alloc(Node { parent: Weak::new(&mu, parent.get(&mu)), value: 2 }));
/// mu.collect();
/// assert_eq!(child.get(&mu).parent.upgrade(&mu).unwrap().value, 1);
/// drop(parent);                  // only the weak reference is left
/// mu.collect();
/// assert!(child.get(&mu).parent.upgrade(&mu).is_none());
/// ```
pub struct Weak<T: 'static> {
    cell: Slot<WeakCell<T>>,
}

// SAFETY: the only GC pointer is the strong edge to the cell.
unsafe impl<T: 'static> Trace for Weak<T> {
    #[inline]
    fn trace(&self, t: &mut Tracer<'_>) {
        self.cell.trace(t)
    }
}

impl<T: Trace + Sync + 'static> Weak<T> {
    /// A weak reference to `target`, to be moved into an object being
    /// allocated on this thread before its mutator's next safepoint (the
    /// rules of [`Slot::new`]). Allocates its cell.
    pub fn new(mu: &Mutator, target: Gc<'_, T>) -> Weak<T> {
        Weak { cell: Slot::new(WeakCell::make(mu, target)) }
    }

    /// Points this (in-heap) weak reference at `target`, or clears it.
    ///
    /// # Panics
    /// As [`Slot::set`]: if the field is not inside an object of `mu`'s heap.
    pub fn set<'a>(&self, mu: &Mutator, target: impl Into<Option<Gc<'a, T>>>) {
        match target.into() {
            Some(t) => self.cell.set(mu, WeakCell::make(mu, t)),
            None => self.cell.set(mu, None),
        }
    }
}

impl<T: 'static> Weak<T> {
    /// A weak reference to nothing.
    pub const fn null() -> Weak<T> {
        Weak { cell: Slot::null() }
    }

    /// The target, if it is still alive. While marking runs, this keeps the
    /// target alive through the current cycle.
    ///
    /// # Panics
    /// As [`Slot::get`]: if the field is non-null and not inside an object
    /// of `mu`'s heap.
    #[inline]
    pub fn upgrade<'m>(&self, mu: &'m Mutator) -> Option<Gc<'m, T>> {
        Gc::into_ref(self.cell.get(mu)?).upgrade(mu)
    }
}

impl<T: 'static> Default for Weak<T> {
    fn default() -> Self {
        Weak::null()
    }
}

impl<T: 'static> fmt::Debug for Weak<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Weak({:?})", self.cell)
    }
}

/// A `'static` weak handle, usable from any mutator of the heap (`Send +
/// Sync` when `T` is): a [`Root`] of the weak cell, not of the target.
///
/// ```
/// use shade::{Config, Heap, WeakRoot};
/// let heap = Heap::new(Config::default()).unwrap();
/// let mut mu = heap.mutator();
/// let strong = mu.root(mu.alloc(String::from("interned")));
/// let weak = WeakRoot::new(&mu, strong.get(&mu));
/// mu.collect();
/// assert_eq!(weak.upgrade(&mu).unwrap().as_str(), "interned");
/// drop(strong);
/// mu.collect();
/// assert!(weak.upgrade(&mu).is_none());
/// ```
pub struct WeakRoot<T: 'static> {
    cell: Root<WeakCell<T>>,
}

impl<T: Trace + Sync + 'static> WeakRoot<T> {
    /// A weak handle to `target`.
    pub fn new(mu: &Mutator, target: Gc<'_, T>) -> WeakRoot<T> {
        WeakRoot { cell: mu.root(WeakCell::make(mu, target)) }
    }
}

impl<T: 'static> WeakRoot<T> {
    /// The target, if it is still alive (see [`Weak::upgrade`]).
    ///
    /// # Panics
    /// If `mu` belongs to another heap.
    #[inline]
    pub fn upgrade<'m>(&self, mu: &'m Mutator) -> Option<Gc<'m, T>> {
        Gc::into_ref(self.cell.get(mu)).upgrade(mu)
    }
}

impl<T: 'static> Clone for WeakRoot<T> {
    fn clone(&self) -> Self {
        WeakRoot { cell: self.cell.clone() }
    }
}

impl<T: 'static> fmt::Debug for WeakRoot<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WeakRoot({:?})", self.cell)
    }
}

#[cfg(test)]
mod tests {
    //! The clearing window seen from a second mutator: upgrades that run
    //! while the coordinator is still clearing (gc/weak.rs, case 3 of "Why
    //! a weak read is safe").

    use super::*;
    use crate::api::array::Array;
    use crate::api::trace::Tracer;
    use crate::toolkit::weak_set::WeakSet;
    use crate::{Config, Heap};
    use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
    use std::time::{Duration, Instant};

    struct Obj {
        id: u64,
        check: u64,
    }

    // SAFETY: no GC pointers.
    unsafe impl Trace for Obj {
        const NO_TRACE: bool = true;
        fn trace(&self, _: &mut Tracer<'_>) {}
    }

    impl std::borrow::Borrow<u64> for Obj {
        fn borrow(&self) -> &u64 {
            &self.id
        }
    }

    fn check_of(id: u64) -> u64 {
        id.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5A5A
    }

    const N: usize = 100_000;

    /// Main sets up a round: N weak references, the even targets also held
    /// strongly, plus the same objects' ids interned in a `WeakSet`; then
    /// collects. Mutator B waits for the clearing window of a cycle that
    /// started after the set-up and, inside it, upgrades every weak
    /// reference from the last (the coordinator clears from the first):
    /// even targets must be alive and intact, odd ones must read as dead
    /// whether or not their cell is cleared yet. It also looks up odd ids in
    /// the set. The test ends once B has seen, inside a window, a dead
    /// target whose cell was not yet cleared (the liveness test itself, not
    /// just a cleared word).
    #[test]
    fn upgrades_inside_the_clearing_window_see_dead_targets_as_dead() {
        let heap = Heap::new(Config {
            checkmark: true,
            clobber_free: true,
            min_heap: 1 << 30,
            read_env: false,
            ..Config::default()
        })
        .unwrap();
        let mut mu = heap.mutator();
        let weaks = mu.root(mu.alloc_array(N, |_| Weak::<Obj>::null()));
        let strongs = mu.root(mu.alloc_array(N, |_| Slot::<Obj>::null()));
        let set = mu.root(WeakSet::<Obj>::alloc(&mu));
        let armed = AtomicU64::new(0); // round r set up, cycles after `after` count
        let after = AtomicU64::new(u64::MAX);
        let done = AtomicU64::new(0);
        let collected = AtomicU64::new(0); // round r's collection returned
        let stop = AtomicBool::new(false);
        let failed = AtomicBool::new(false);
        let tested_dead = AtomicUsize::new(0);
        let in_window = AtomicUsize::new(0);
        std::thread::scope(|s| {
            s.spawn(|| {
                // A failed assertion here ends the main loop too.
                struct Bail<'a>(&'a AtomicBool);
                impl Drop for Bail<'_> {
                    fn drop(&mut self) {
                        self.0.store(true, SeqCst);
                    }
                }
                let _bail = Bail(&failed);
                let mut mu = heap.mutator();
                let rt = heap.rt.rt.clone();
                loop {
                    mu.safepoint();
                    if stop.load(SeqCst) {
                        break;
                    }
                    let r = armed.load(SeqCst);
                    if r == done.load(SeqCst) {
                        continue;
                    }
                    // Only a window of a cycle that began after the set-up.
                    if !rt.weak_clearing.is_open() || rt.cycle.load(SeqCst) <= after.load(SeqCst) {
                        if collected.load(SeqCst) == r {
                            done.store(r, SeqCst); // missed this round's window
                        }
                        continue;
                    }
                    let ws: &Array<Weak<Obj>> = Gc::into_ref(weaks.get(&mu));
                    for i in (0..N).rev() {
                        let w = &ws[i];
                        let raw = match w.cell.get(&mu) {
                            Some(c) => Gc::into_ref(c).target.load(SeqCst),
                            None => panic!("weak {i} has no cell"),
                        };
                        let open = rt.weak_clearing.is_open();
                        match w.upgrade(&mu) {
                            Some(o) => {
                                assert_eq!(i % 2, 0, "round {r}: odd target {i} upgraded: it is dead");
                                assert_eq!((o.id as usize % N, o.check), (i, check_of(o.id)), "target {i} intact");
                            }
                            None => {
                                assert_eq!(i % 2, 1, "round {r}: even target {i} is strongly held");
                                if raw != 0 && open {
                                    tested_dead.fetch_add(1, SeqCst);
                                }
                            }
                        }
                        if open {
                            in_window.fetch_add(1, SeqCst);
                        }
                        if i % 64 == 1 {
                            let id = r * N as u64 + i as u64;
                            assert!(set.get(&mu).get(&mu, &id).is_none(), "round {r}: dead id {id} found interned");
                        }
                    }
                    done.store(r, SeqCst);
                }
            });
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut r = 0;
            while tested_dead.load(SeqCst) == 0 {
                assert!(Instant::now() < deadline, "no upgrade ran inside a clearing window in 60 s");
                r += 1;
                {
                    let (ws, ss) = (weaks.get(&mu), strongs.get(&mu));
                    for i in 0..N {
                        let id = r * N as u64 + i as u64;
                        let t = mu.alloc(Obj { id, check: check_of(id) });
                        ws[i].set(&mu, t);
                        ss[i].set(&mu, if i % 2 == 0 { Some(t) } else { None });
                        if i % 64 == 1 {
                            set.get(&mu).intern(&mu, &id, |_| t);
                        }
                    }
                }
                after.store(mu.runtime().cycle.load(SeqCst), SeqCst);
                armed.store(r, SeqCst);
                mu.collect();
                collected.store(r, SeqCst);
                // B finishes this round (its pass, or noticing it missed
                // the window) before the next set-up changes the arrays.
                while done.load(SeqCst) != r {
                    if failed.load(SeqCst) {
                        return; // B panicked: the scope re-raises it
                    }
                    assert!(Instant::now() < deadline, "mutator B never finished round {r}");
                    mu.safepoint();
                    std::thread::yield_now();
                }
            }
            stop.store(true, SeqCst);
            eprintln!(
                "{r} rounds; {} upgrades inside a window, {} of a dead target not yet cleared",
                in_window.load(SeqCst),
                tested_dead.load(SeqCst)
            );
        });
        assert!(in_window.load(SeqCst) > 0);
        let st = heap.stats();
        assert!(st.weak_clear_time_max > Duration::ZERO, "{st:?}");
    }
}
