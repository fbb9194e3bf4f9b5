//! `WeakSet<T>`: a hash set whose entries do not keep their objects alive,
//! looked up by content: the intern table of a runtime (strings, symbols,
//! shapes).
//!
//! Layout: the set is a heap object holding a lock, a hasher, counts, and a
//! slot with its buffer, an `Array<Entry>` of (object address, hash) pairs
//! probed linearly. The buffer is held strongly, but its entries are plain
//! words the marker never reads (`Entry` is `NO_TRACE`), so an interned
//! object survives only if something else reaches it. The set registers a
//! clearing function with its mutator's weak lists (gc/weak.rs); in the
//! clearing window after each mark termination, the coordinator takes the
//! set's lock and replaces the entries whose object died with tombstones
//! (which keep probe chains intact), lowers the count, and records the
//! generation it cleared (`cleared_gen`).
//!
//! Why lookups are safe: once the set is cleared for the current
//! generation, an entry that is not a tombstone names an object that was
//! marked at the last termination, or was inserted since from a live `Gc`;
//! so it stays allocated until the next termination, which happens only
//! with the reading mutator stopped. Before it is cleared (the window is
//! open, and stays open while this mutator holds the lock the coordinator
//! needs), an entry may name a dead object whose memory is still intact
//! (nothing is swept yet): `find` tests each entry whose hash matches with
//! the window's liveness predicate and tombstones it if dead, before it
//! compares it or hands it out. A lookup that *returns* an entry while
//! marking runs shades it (as a weak upgrade does, §10 of DESIGN.md), since
//! the snapshot need not include it; entries it only compares are read and
//! let go.
//!
//! Several mutators may use one set (`T: Sync`): every operation takes the
//! set's lock, and never holds it across an allocation (which may run
//! destructors that use the set): growing allocates the new buffer with
//! the lock released and re-checks.

use crate::api::array::Array;
use crate::api::gc::Gc;
use crate::api::mutator::Mutator;
use crate::api::slot::Slot;
use crate::api::trace::{Trace, Tracer};
use crate::gc::weak::{self, WeakTable};
use std::borrow::Borrow;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::*};

/// An empty entry: ends a probe.
const EMPTY: usize = 0;
/// A cleared or removed entry: probes go on past it.
const TOMBSTONE: usize = 1;

/// One buffer entry: an object's payload address (or `EMPTY`, `TOMBSTONE`)
/// and its hash.
pub(crate) struct Entry {
    ptr: AtomicUsize,
    hash: AtomicU64,
}

// SAFETY: the address is deliberately not traced (a weak entry), and an
// entry holds nothing else; NO_TRACE keeps buffers in noscan spans.
unsafe impl Trace for Entry {
    const NO_TRACE: bool = true;
    fn trace(&self, _: &mut Tracer<'_>) {}
}

/// A weak hash set of `T` objects, looked up by content (see the module
/// comment). Allocate it with [`WeakSet::alloc`]; hold it in a `Root`,
/// a `Local` or a slot.
///
/// ```
/// use shade::{Array, Config, Heap, WeakSet};
///
/// let heap = Heap::new(Config::default()).unwrap();
/// let mut mu = heap.mutator();
/// let strings = mu.root(WeakSet::<Array<u8>>::alloc(&mu));
/// let a = strings.get(&mu).intern(&mu, b"hello" as &[u8], |mu| mu.alloc_str("hello"));
/// let b = strings.get(&mu).intern(&mu, b"hello" as &[u8], |mu| mu.alloc_str("hello"));
/// assert!(shade::Gc::ptr_eq(a, b));                   // one object per content
/// let kept = mu.local(a);
/// mu.collect();
/// assert_eq!(strings.get(&mu).len(), 1);              // alive: still interned
/// drop(kept);
/// mu.collect();
/// assert_eq!(strings.get(&mu).len(), 0);              // dead: the entry vanished
/// assert!(strings.get(&mu).get(&mu, b"hello" as &[u8]).is_none());
/// ```
pub struct WeakSet<T: 'static> {
    buf: Slot<Array<Entry>>,
    /// Live entries (tombstones excluded).
    len: AtomicUsize,
    tombstones: AtomicUsize,
    /// The sweep generation the collector last cleared the set for
    /// (gc/weak.rs); written under the lock.
    cleared_gen: AtomicU64,
    lock: parking_lot::Mutex<()>,
    hasher: RandomState,
    _t: PhantomData<*const T>,
}

// SAFETY: as for `Slot<T>`: a lookup on another thread yields `&T` there.
// The rest is atomics, a lock and a hasher.
unsafe impl<T: Sync> Sync for WeakSet<T> {}
// SAFETY: as above.
unsafe impl<T: Sync> Send for WeakSet<T> {}

// SAFETY: the buffer slot is the only GC pointer followed; the entries'
// addresses are weak on purpose (cleared by `clear_dead`).
unsafe impl<T: 'static> Trace for WeakSet<T> {
    fn trace(&self, t: &mut Tracer<'_>) {
        self.buf.trace(t)
    }
}

impl<T: Trace + Sync + 'static> WeakSet<T> {
    /// Allocates an empty set and registers it for weak processing.
    pub fn alloc(mu: &Mutator) -> Gc<'_, WeakSet<T>> {
        let set = mu.alloc(WeakSet {
            buf: Slot::null(),
            len: AtomicUsize::new(0),
            tombstones: AtomicUsize::new(0),
            // Holds nothing the last termination judged.
            cleared_gen: AtomicU64::new(weak::generation(mu.runtime())),
            lock: parking_lot::Mutex::new(()),
            hasher: RandomState::new(),
            _t: PhantomData,
        });
        mu.st.weak.lock().tables.push(WeakTable { table: set.addr(), clear: clear_dead::<T>, ephemeron: None });
        set
    }

    /// Number of entries (as of the last change; entries whose object died
    /// in the last collection count until the collector clears them, just
    /// after that collection's termination).
    pub fn len(&self) -> usize {
        self.len.load(Relaxed)
    }

    /// Whether the set has no live entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn hash_of<Q: Hash + ?Sized>(&self, key: &Q) -> u64 {
        self.hasher.hash_one(key)
    }

    /// Probes for `key`; returns the entry index holding it, or the index
    /// where it would go (the first tombstone seen, else the empty entry).
    /// Caller holds the lock.
    fn find<Q>(&self, mu: &Mutator, buf: &Array<Entry>, key: &Q, hash: u64) -> Result<usize, Option<usize>>
    where
        T: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let rt = mu.runtime();
        // Not yet cleared this generation: the window is open, and stays
        // open while we hold the lock (module comment).
        let test = weak::table_needs_test(rt, self.cleared_gen.load(Relaxed));
        let gen = weak::generation(rt);
        let mask = buf.len() - 1;
        let mut i = hash as usize & mask;
        let mut free = None;
        for _ in 0..buf.len() {
            let e = &buf[i];
            match e.ptr.load(Relaxed) {
                EMPTY => return Err(free.or(Some(i))),
                TOMBSTONE => {
                    free.get_or_insert(i);
                }
                p if e.hash.load(Relaxed) == hash => {
                    if test && !weak::alive_in_window(rt, p, gen) {
                        // Dead at the last termination, not yet cleared.
                        e.ptr.store(TOMBSTONE, Relaxed);
                        self.len.fetch_sub(1, Relaxed);
                        self.tombstones.fetch_add(1, Relaxed);
                        free.get_or_insert(i);
                        i = (i + 1) & mask;
                        continue;
                    }
                    // SAFETY: a non-tombstone entry that passed the test
                    // names a live `T` until the next termination (module
                    // comment), which cannot happen while this mutator is
                    // running.
                    let obj: &T = unsafe { &*(p as *const T) };
                    if obj.borrow() == key {
                        return Ok(i);
                    }
                }
                _ => {}
            }
            i = (i + 1) & mask;
        }
        Err(free)
    }

    /// The object equal to `key`, if interned and alive.
    pub fn get<'m, Q>(&self, mu: &'m Mutator, key: &Q) -> Option<Gc<'m, T>>
    where
        T: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash_of(key);
        let _g = self.lock.lock();
        let buf = Gc::into_ref(self.buf.get(mu)?);
        let i = self.find(mu, buf, key, hash).ok()?;
        let p = buf[i].ptr.load(Relaxed);
        // Shaded if marking runs; dead if marking closed without it.
        if !crate::barrier::shade_weak(mu, p) {
            return None;
        }
        // SAFETY: a live `T` (see `find`), shaded if marking runs.
        Some(unsafe { Gc::from_raw(p) })
    }

    /// The interned object equal to `key`, or `make`'s new one, interned.
    /// `make` runs without the set's lock held (it may allocate, and so run
    /// destructors that use the set); if another mutator interned an equal
    /// object meanwhile, that one is returned.
    ///
    /// # Panics
    /// If `make` returns an object not equal to `key`.
    pub fn intern<'m, Q>(&self, mu: &'m Mutator, key: &Q, make: impl FnOnce(&'m Mutator) -> Gc<'m, T>) -> Gc<'m, T>
    where
        T: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if let Some(g) = self.get(mu, key) {
            return g;
        }
        let new = make(mu);
        assert!(
            Gc::into_ref(new).borrow() == key,
            "shade: WeakSet::intern: make returned an object not equal to the key"
        );
        self.insert_hashed(mu, key, new, self.hash_of(key))
    }

    /// Inserts `obj` unless an equal object is interned; returns the
    /// interned one.
    fn insert_hashed<'m, Q>(&self, mu: &'m Mutator, key: &Q, obj: Gc<'m, T>, hash: u64) -> Gc<'m, T>
    where
        T: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        loop {
            let want = {
                let _g = self.lock.lock();
                match self.buf.get(mu) {
                    Some(buf) => {
                        let buf = Gc::into_ref(buf);
                        match self.find(mu, buf, key, hash) {
                            Ok(i) => {
                                let p = buf[i].ptr.load(Relaxed);
                                if crate::barrier::shade_weak(mu, p) {
                                    // SAFETY: as in `get`.
                                    return unsafe { Gc::from_raw(p) };
                                }
                                // Dead (marking closed without it): the
                                // new object takes its entry.
                                buf[i].ptr.store(obj.addr(), Release);
                                return obj;
                            }
                            Err(Some(i)) if (self.len() + self.tombstones.load(Relaxed) + 1) * 4 <= buf.len() * 3 => {
                                if buf[i].ptr.load(Relaxed) == TOMBSTONE {
                                    self.tombstones.fetch_sub(1, Relaxed);
                                }
                                buf[i].hash.store(hash, Relaxed);
                                buf[i].ptr.store(obj.addr(), Release);
                                self.len.fetch_add(1, Relaxed);
                                return obj;
                            }
                            // Full enough (or no room): rebuild, twice as
                            // large unless tombstones make most of it.
                            _ => {
                                if self.len() * 2 < buf.len() / 2 {
                                    buf.len()
                                } else {
                                    buf.len() * 2
                                }
                            }
                        }
                    }
                    None => 16,
                }
            };
            // Allocate with the lock released, then rebuild under it if no
            // one else grew the set meanwhile.
            let fresh = mu.alloc_array(want, |_| Entry { ptr: AtomicUsize::new(EMPTY), hash: AtomicU64::new(0) });
            let _g = self.lock.lock();
            let old = self.buf.get(mu);
            if old.is_some_and(|b| b.len() > want) {
                continue; // grown meanwhile: retry with the larger buffer
            }
            let mask = want - 1;
            let mut live = 0;
            if let Some(old) = old {
                for e in Gc::into_ref(old).iter() {
                    let p = e.ptr.load(Relaxed);
                    if p > TOMBSTONE {
                        let h = e.hash.load(Relaxed);
                        let mut i = h as usize & mask;
                        while fresh[i].ptr.load(Relaxed) != EMPTY {
                            i = (i + 1) & mask;
                        }
                        fresh[i].hash.store(h, Relaxed);
                        fresh[i].ptr.store(p, Relaxed);
                        live += 1;
                    }
                }
            }
            self.len.store(live, Relaxed);
            self.tombstones.store(0, Relaxed);
            self.buf.set(mu, fresh);
        }
    }

    /// Removes the object equal to `key`; returns whether there was one.
    pub fn remove<Q>(&self, mu: &Mutator, key: &Q) -> bool
    where
        T: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash_of(key);
        let _g = self.lock.lock();
        let Some(buf) = self.buf.get(mu) else { return false };
        let buf = Gc::into_ref(buf);
        match self.find(mu, buf, key, hash) {
            Ok(i) => {
                buf[i].ptr.store(TOMBSTONE, Relaxed);
                self.len.fetch_sub(1, Relaxed);
                self.tombstones.fetch_add(1, Relaxed);
                true
            }
            Err(_) => false,
        }
    }
}

/// The set's clearing function (gc/weak.rs, `ClearFn`): tombstones for
/// the entries whose object died.
///
/// # Safety
/// As `ClearFn`: the clearing window; `table` is a `WeakSet<T>` marked at
/// the termination that opened it.
unsafe fn clear_dead<T: 'static>(table: usize, alive: &dyn Fn(usize) -> bool, gen: u64) -> usize {
    // SAFETY: per the contract.
    let set = unsafe { &*(table as *const WeakSet<T>) };
    let _g = set.lock.lock();
    set.cleared_gen.store(gen, Relaxed);
    // The buffer slot, read without a mutator (the collector): under the
    // lock it holds null or a buffer that is allocated (marked with the
    // set, or allocated since by a mutator, and nothing is freed during
    // the window).
    let p = set.buf_addr();
    if p == 0 {
        return 0;
    }
    // SAFETY: as above; the slot only ever holds an `Array<Entry>`.
    let buf = unsafe { &*(p as *const Array<Entry>) };
    let mut cleared = 0;
    for e in buf.iter() {
        let t = e.ptr.load(Relaxed);
        if t > TOMBSTONE && !alive(t) {
            e.ptr.store(TOMBSTONE, Relaxed);
            cleared += 1;
        }
    }
    set.len.fetch_sub(cleared, Relaxed);
    set.tombstones.fetch_add(cleared, Relaxed);
    cleared
}

impl<T: 'static> WeakSet<T> {
    fn buf_addr(&self) -> usize {
        self.buf.raw()
    }
}
