//! `WeakMap<K, V>`: an ephemeron table. Each entry maps a key object (by
//! identity) to a value object, and the value is reachable *through the
//! entry* only while the key is reachable from elsewhere: the map never
//! keeps a key alive, and keeps a value alive exactly as long as its key.
//! Cycles through values (a value that points back at its own key) do not
//! keep keys alive; chains (K1 → V1, V1 holds K2, K2 → V2 …) are followed
//! to the end. This is what runtimes use to attach data to objects they do
//! not own (JavaScript's `WeakMap`, Racket's ephemerons, side tables).
//!
//! Layout: like `WeakSet` (toolkit/weak_set.rs): a heap object with a
//! lock, counts and a slot holding its buffer, a noscan `Array` of
//! (key address, value address) pairs probed linearly by the key's
//! address (objects never move). The marker never reads the entries, so
//! neither keys nor values are traced through the map.
//!
//! The collector side (gc/weak.rs, `converge_ephemerons`): when marking
//! has otherwise run dry, before termination closes it, every live map
//! marks (under its lock) the values whose key is marked, the marker
//! drains what they reach, and this repeats until a round marks nothing
//! new. In the clearing window after termination, the coordinator takes
//! the map's lock and turns the entries whose key died into tombstones.
//!
//! Why reads are safe: a lookup compares keys by address with a key the
//! caller holds, which is alive, so the entry it finds was not judged dead
//! (a dead key's address is not reused before the window closes). That
//! entry's key and value were both marked at the last termination (the
//! value because its key was) or were inserted since from live `Gc`s, so
//! both stay allocated until the next termination, which happens only with
//! the reading mutator stopped. Entries with dead keys, not yet cleared,
//! are only compared, and copied as words when the buffer is rebuilt. A
//! value handed out while marking runs is shaded (as a weak upgrade is,
//! DESIGN.md §10): the snapshot need not contain it. A key is only ever
//! compared, never handed out, so it needs no shading.

use crate::api::array::Array;
use crate::api::gc::Gc;
use crate::api::mutator::Mutator;
use crate::api::slot::Slot;
use crate::api::trace::{Trace, Tracer};
use crate::gc::weak::WeakTable;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicUsize, Ordering::*};

/// An empty entry: ends a probe.
const EMPTY: usize = 0;
/// A cleared or removed entry: probes go on past it.
const TOMBSTONE: usize = 1;

/// One buffer entry: the key's and the value's payload addresses.
pub(crate) struct MapEntry {
    key: AtomicUsize,
    val: AtomicUsize,
}

// SAFETY: neither address is traced (the entries are ephemeral on
// purpose), and an entry holds nothing else; NO_TRACE keeps buffers in
// noscan spans, where the marker never looks.
unsafe impl Trace for MapEntry {
    const NO_TRACE: bool = true;
    fn trace(&self, _: &mut Tracer<'_>) {}
}

/// An ephemeron table from `K` objects (by identity) to `V` objects (see
/// the module comment). Allocate it with [`WeakMap::alloc`].
///
/// ```
/// use shade::{Config, Heap, WeakMap};
///
/// let heap = Heap::new(Config::default()).unwrap();
/// let mut mu = heap.mutator();
/// let notes = mu.root(WeakMap::<u64, String>::alloc(&mu));
/// let obj = mu.local(mu.alloc(42u64));
/// notes.get(&mu).insert(&mu, obj.get(&mu), mu.alloc("the answer".to_string()));
/// mu.collect();
/// assert_eq!(notes.get(&mu).get(&mu, obj.get(&mu)).unwrap().as_str(), "the answer");
/// drop(obj); // the key dies: its entry, and the value with it, go
/// mu.collect();
/// assert_eq!(notes.get(&mu).len(), 0);
/// ```
pub struct WeakMap<K: 'static, V: 'static> {
    buf: Slot<Array<MapEntry>>,
    /// Live entries (tombstones excluded).
    len: AtomicUsize,
    tombstones: AtomicUsize,
    lock: parking_lot::Mutex<()>,
    _t: PhantomData<(*const K, *const V)>,
}

// SAFETY: a lookup on another thread yields `&V` there (so `V: Sync`) and
// compares keys by address only (any `K`); the rest is atomics and a lock.
unsafe impl<K, V: Sync> Sync for WeakMap<K, V> {}
// SAFETY: as above.
unsafe impl<K, V: Sync> Send for WeakMap<K, V> {}

// SAFETY: the buffer slot is the only pointer followed; the entries are
// ephemeral on purpose (gc/weak.rs marks values of live keys at
// termination and clears dead keys' entries).
unsafe impl<K: 'static, V: 'static> Trace for WeakMap<K, V> {
    fn trace(&self, t: &mut Tracer<'_>) {
        self.buf.trace(t)
    }
}

/// The probe start for a key address (objects are 8-aligned: drop the low
/// bits, then mix).
#[inline]
fn hash_addr(p: usize) -> usize {
    let x = (p as u64 >> 3).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (x ^ (x >> 29)) as usize
}

impl<K: 'static, V: Sync + 'static> WeakMap<K, V> {
    /// Allocates an empty map and registers it for ephemeron processing.
    pub fn alloc(mu: &Mutator) -> Gc<'_, WeakMap<K, V>> {
        let map = mu.alloc(WeakMap::<K, V> {
            buf: Slot::null(),
            len: AtomicUsize::new(0),
            tombstones: AtomicUsize::new(0),
            lock: parking_lot::Mutex::new(()),
            _t: PhantomData,
        });
        mu.st.weak.lock().tables.push(WeakTable {
            table: map.addr(),
            clear: clear_dead::<K, V>,
            ephemeron: Some(mark_live_values::<K, V>),
        });
        map
    }

    /// Number of entries (as of the last change; entries whose key died in
    /// the last collection count until the collector clears them, just
    /// after that collection's termination).
    pub fn len(&self) -> usize {
        self.len.load(Relaxed)
    }

    /// Whether the map has no live entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The entry index holding `key`, or where it would go (the first
    /// tombstone seen, else the empty entry). Caller holds the lock.
    fn find(buf: &Array<MapEntry>, key: usize) -> Result<usize, Option<usize>> {
        let mask = buf.len() - 1;
        let mut i = hash_addr(key) & mask;
        let mut free = None;
        for _ in 0..buf.len() {
            match buf[i].key.load(Relaxed) {
                EMPTY => return Err(free.or(Some(i))),
                TOMBSTONE => {
                    free.get_or_insert(i);
                }
                k if k == key => return Ok(i),
                _ => {}
            }
            i = (i + 1) & mask;
        }
        Err(free)
    }

    /// Hands out an entry's value: shaded if marking runs. `None` only if
    /// marking closed without marking it (its key died: the entry is
    /// about to be cleared).
    fn value_out<'m>(mu: &'m Mutator, p: usize) -> Option<Gc<'m, V>> {
        if !crate::barrier::shade_weak(mu, p) {
            return None;
        }
        // SAFETY: a non-tombstone entry's value is allocated until the next
        // termination (module comment), which cannot happen while `mu` is
        // borrowed; shading keeps it past this cycle's.
        Some(unsafe { Gc::from_raw(p) })
    }

    fn check(mu: &Mutator, p: usize) {
        if !mu.in_heap(p) {
            panic!("shade: WeakMap: object {p:#x} belongs to another heap than the mutator's");
        }
    }

    /// The value of `key`, if it has an entry.
    pub fn get<'m>(&self, mu: &'m Mutator, key: Gc<'_, K>) -> Option<Gc<'m, V>> {
        let _g = self.lock.lock();
        let buf = Gc::into_ref(self.buf.get(mu)?);
        let i = Self::find(buf, key.addr()).ok()?;
        Self::value_out(mu, buf[i].val.load(Relaxed))
    }

    /// Whether `key` has an entry.
    pub fn contains_key(&self, mu: &Mutator, key: Gc<'_, K>) -> bool {
        let _g = self.lock.lock();
        self.buf.get(mu).is_some_and(|b| Self::find(Gc::into_ref(b), key.addr()).is_ok())
    }

    /// Maps `key` to `value`; returns the previous value.
    ///
    /// # Panics
    /// If `key` or `value` belongs to another heap than `mu`'s.
    pub fn insert<'m>(&self, mu: &'m Mutator, key: Gc<'_, K>, value: Gc<'_, V>) -> Option<Gc<'m, V>> {
        let (k, v) = (key.addr(), value.addr());
        Self::check(mu, k);
        Self::check(mu, v);
        loop {
            let want = {
                let _g = self.lock.lock();
                match self.buf.get(mu) {
                    Some(buf) => {
                        let buf = Gc::into_ref(buf);
                        match Self::find(buf, k) {
                            Ok(i) => {
                                let old = buf[i].val.swap(v, Relaxed);
                                return Self::value_out(mu, old);
                            }
                            Err(Some(i)) if (self.len() + self.tombstones.load(Relaxed) + 1) * 4 <= buf.len() * 3 => {
                                if buf[i].key.load(Relaxed) == TOMBSTONE {
                                    self.tombstones.fetch_sub(1, Relaxed);
                                }
                                buf[i].val.store(v, Relaxed);
                                buf[i].key.store(k, Release);
                                self.len.fetch_add(1, Relaxed);
                                return None;
                            }
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
            // Allocate with the lock released (allocation may run
            // destructors that use the map), then rebuild under it unless
            // someone grew the map meanwhile.
            let fresh =
                mu.alloc_array(want, |_| MapEntry { key: AtomicUsize::new(EMPTY), val: AtomicUsize::new(EMPTY) });
            let _g = self.lock.lock();
            let old = self.buf.get(mu);
            if old.is_some_and(|b| b.len() > want) {
                continue;
            }
            let mask = want - 1;
            let mut live = 0;
            if let Some(old) = old {
                for e in Gc::into_ref(old).iter() {
                    let key = e.key.load(Relaxed);
                    if key > TOMBSTONE {
                        let mut i = hash_addr(key) & mask;
                        while fresh[i].key.load(Relaxed) != EMPTY {
                            i = (i + 1) & mask;
                        }
                        fresh[i].val.store(e.val.load(Relaxed), Relaxed);
                        fresh[i].key.store(key, Relaxed);
                        live += 1;
                    }
                }
            }
            self.len.store(live, Relaxed);
            self.tombstones.store(0, Relaxed);
            self.buf.set(mu, fresh);
        }
    }

    /// Removes `key`'s entry; returns its value.
    pub fn remove<'m>(&self, mu: &'m Mutator, key: Gc<'_, K>) -> Option<Gc<'m, V>> {
        let _g = self.lock.lock();
        let buf = Gc::into_ref(self.buf.get(mu)?);
        let i = Self::find(buf, key.addr()).ok()?;
        buf[i].key.store(TOMBSTONE, Relaxed);
        let v = buf[i].val.swap(EMPTY, Relaxed);
        self.len.fetch_sub(1, Relaxed);
        self.tombstones.fetch_add(1, Relaxed);
        Self::value_out(mu, v)
    }
}

impl<K: 'static, V: 'static> WeakMap<K, V> {
    /// The buffer, read by the collector under the map's lock (the map is
    /// marked, so its buffer is allocated: the buffer slot is traced, and a
    /// buffer installed since was allocated black).
    ///
    /// # Safety
    /// The caller holds the lock; `self` is marked, marking in progress.
    unsafe fn buffer(&self) -> Option<&Array<MapEntry>> {
        let p = self.buf.raw();
        // SAFETY: per the contract, a marked map's buffer is allocated and
        // an `Array<MapEntry>`.
        (p != 0).then(|| unsafe { &*(p as *const Array<MapEntry>) })
    }
}

/// The map's ephemeron round (gc/weak.rs, `EphemeronFn`): marks the value
/// of every entry whose key is marked; keeps the indices of the others in
/// `pending`.
///
/// # Safety
/// Marking in progress; `table` is an allocated, marked `WeakMap<K, V>`.
unsafe fn mark_live_values<K: 'static, V: 'static>(
    table: usize,
    is_marked: &dyn Fn(usize) -> bool,
    mark: &mut dyn FnMut(usize),
    pending: &mut Option<(usize, Vec<u32>)>,
) -> usize {
    // SAFETY: per the contract.
    let map = unsafe { &*(table as *const WeakMap<K, V>) };
    // Mutators may use the map meanwhile (ragged termination).
    let _g = map.lock.lock();
    // SAFETY: per the contract; under the lock the buffer stays put.
    let Some(buf) = (unsafe { map.buffer() }) else {
        *pending = Some((0, Vec::new()));
        return 0;
    };
    let addr = buf as *const Array<MapEntry> as usize;
    if pending.as_ref().is_some_and(|(a, _)| *a != addr) {
        // Rebuilt since the last round: the indices are stale.
        *pending = None;
    }
    let mut n = 0;
    let mut visit = |e: &MapEntry| -> bool {
        let k = e.key.load(Relaxed);
        if k <= TOMBSTONE {
            return false;
        }
        if !is_marked(k) {
            return true; // still pending
        }
        let v = e.val.load(Relaxed);
        if !is_marked(v) {
            mark(v);
            n += 1;
        }
        false
    };
    match pending {
        None => {
            let mut p = Vec::new();
            for (i, e) in buf.iter().enumerate() {
                if visit(e) {
                    p.push(i as u32);
                }
            }
            *pending = Some((addr, p));
        }
        Some((_, p)) => p.retain(|&i| visit(&buf[i as usize])),
    }
    n
}

/// The map's clearing function (gc/weak.rs, `ClearFn`): tombstones for
/// the entries whose key died (their values die with them, unless
/// reachable otherwise). A full pass, in the clearing window with mutators
/// running, rather than the convergence's pending lists: those index the
/// buffer as it was at termination, and a mutator may have rebuilt it
/// since.
///
/// # Safety
/// As `ClearFn`: the clearing window; `table` is a `WeakMap<K, V>` marked
/// at the termination that opened it.
unsafe fn clear_dead<K: 'static, V: 'static>(table: usize, alive: &dyn Fn(usize) -> bool, _gen: u64) -> usize {
    // SAFETY: per the contract.
    let map = unsafe { &*(table as *const WeakMap<K, V>) };
    let _g = map.lock.lock();
    let p = map.buf.raw();
    if p == 0 {
        return 0;
    }
    // SAFETY: under the lock the slot holds a buffer that is allocated
    // (marked with the map, or allocated since, and nothing is freed
    // during the window); it only ever holds an `Array<MapEntry>`.
    let buf = unsafe { &*(p as *const Array<MapEntry>) };
    let mut cleared = 0;
    for e in buf.iter() {
        let k = e.key.load(Relaxed);
        if k > TOMBSTONE && !alive(k) {
            e.key.store(TOMBSTONE, Relaxed);
            e.val.store(EMPTY, Relaxed);
            cleared += 1;
        }
    }
    map.len.fetch_sub(cleared, Relaxed);
    map.tombstones.fetch_add(cleared, Relaxed);
    cleared
}
