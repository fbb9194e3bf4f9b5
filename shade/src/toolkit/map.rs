//! `GcMap<K, V>`: a hash map that lives in the heap.
//!
//! # What is stored
//!
//! `K` and `V` are *cell kinds* ([`MapCell`]): zero-cost type-level names
//! that say how one key or value is stored inside a heap object (its
//! `Cell`, made of atomics and slots, so the marker and other mutators can
//! read it while it changes) and what it reads back as (its `Item`). Plain
//! data (`u64`, `i32`, `f64`, `bool`, `()`...) is stored in an atomic; a
//! `Slot<T>` kind stores a GC pointer and reads back as a `Gc<'m, T>` (as a
//! key: by identity, hashed by address, sound because objects never move);
//! [`Str`](crate::Str) stores a pointer to a heap string and compares its
//! bytes (hashing by the hash the string computed once), and can be looked
//! up by a `&str` without allocating ([`MapQuery`]); [`ValueSlot`] stores a
//! dynamic [`Value`] (keys by identity). A new kind is one `MapCell` impl
//! (and a `MapKey` impl if it can be a key). The traits are
//! safe and open: a cell is built from safe parts (atomics, `Slot`s), so a
//! wrong impl can make the map misbehave but not break memory safety.
//!
//! # Layout
//!
//! The map is a lock/version word, a count of live entries and one of
//! tombstones, and two slots holding the table: an `Array<Entry>` whose
//! length is a power of two, each entry a control word and the two cells,
//! and a parallel `Array<AtomicU8>` of probe tags. The control word is
//! `EMPTY` (ends a probe), `TOMBSTONE` (a removed entry: probes go on past
//! it) or the key's 64-bit hash with the top bit set (a full entry); the
//! tag is the same state in one byte (for a full entry, 7 bits of the hash
//! that the index does not use). Probes are linear over the tags and read
//! an entry only when its tag matches, and then compare its full hash
//! before its key: a miss, and an insert's search for a free entry, read
//! tags alone (a byte per entry, so they stay in cache when the 24-byte
//! entries do not: 256 KiB of tags for 6 MiB of entries at 2^18), a hit
//! reads one entry (control word, key and value adjacent), and `Str` bytes
//! are compared only on a 64-bit hash match. (Measured on `map-u64` of
//! shade-bench, 65536 live keys, 15 alternating runs on a noisy machine:
//! with the state in the entries alone, 112 ns/op at best and 129 at the
//! lower quartile; with the tags, 82 and 100.) The table is at most 3/4
//! full, counting tombstones. When a removal leaves an entry followed by an
//! empty one, it and the tombstones before it become empty (no probe chain
//! needs them), so tombstones do not pile up under insert/remove churn.
//!
//! Invariants, kept under the lock: the two arrays have the same length and
//! each tag mirrors its entry's control word; `len` counts the full entries
//! of the current table and `tombstones` its tombstones; a full entry's
//! cells hold its key and value; the pointer cells of entries that are not
//! full are null (removal clears them, through the barrier), so the map
//! keeps nothing alive but its entries; an entry never moves within a table
//! (the only way entries move is a rebuild into a new table).
//!
//! # Growth, without a barrier call per entry
//!
//! Growing (or rebuilding to drop tombstones: the same size when at most
//! half the table is live, otherwise twice as large; either way at least a
//! quarter of the table is inserted before the next rebuild, so rebuilds
//! cost amortised O(1) per insert) allocates a fresh table of empty entries
//! *with the lock released*, then takes the lock, checks that the table is
//! still the one it decided on (else it drops the fresh one and starts
//! over), copies every full entry into it, and stores the new arrays into
//! the map's two slots: those two stores are the only barrier calls. The
//! copies use [`MapCell::copy_to_fresh`]; for pointer cells that is
//! `Slot::copy_into_null`, which stores without the barrier because the
//! destination is null (api/slot.rs explains why that is sound under the
//! snapshot barrier). The old table is left intact: the barrier of the
//! swap records it, so a marker that has not scanned it yet still reaches
//! every entry it held at the snapshot. A reader that loads the two slots
//! across a rebuild may pair one table's tags with another's entries; every
//! access is bounds-checked against the array it reads, and the version
//! check discards whatever such a read found.
//!
//! Why not build the entries in place inside `alloc_array`'s initialiser,
//! with `Slot::new` witnesses? Every pointer would cost a witness record
//! and the allocation check would trace every entry; and the old table
//! would be read without the lock (an allocation may run destructors,
//! which may use the map), so the copy could be stale and would need a
//! retry anyway. Copying under the lock into a fresh table is simpler and
//! cheaper.
//!
//! There is no automatic shrinking (as with std's `HashMap`): `clear`
//! keeps the capacity, [`GcMap::shrink_to_fit`] gives memory back.
//!
//! # Concurrency: linearizable, with a seqlock
//!
//! A shared map (the cells are always `Send + Sync`, so a map in a shared
//! object can be used from every mutator that reaches it) is linearizable:
//!
//! * Writers (insert, remove, clear, rebuilds) take the lock: a CAS of the
//!   version word from even to odd, then a release fence; they store the
//!   next even value when done (a guard does it on unwind too). Writes are
//!   therefore totally ordered, each taking effect inside its critical
//!   section.
//! * Readers (get, contains, iteration) do not write anything shared: they
//!   wait for an even version `s` (acquire), probe, then after an acquire
//!   fence check that the version is still `s`. If it is, no writer's
//!   critical section overlapped the probe (a read that saw any store of a
//!   writer's section would, through the writer's release fence and the
//!   reader's acquire fence, also see the odd version), so the result is
//!   the state between two writes: the read linearizes there. Otherwise it
//!   retries; after 4 failed attempts it takes the lock, so a reader makes
//!   progress under a stream of writes.
//! * Whatever the interleaving, a probe cannot go wrong in a way that
//!   matters for safety: every cell is an atomic, every access is
//!   bounds-checked against the table the probe loaded, and a pointer loaded
//!   from any heap slot names a live object of its type (the heap invariant
//!   (H), DESIGN.md §4), even if the read is torn and then discarded.
//!
//! Why the spinning cannot deadlock with the collector: a critical section
//! never reaches a safepoint (all it holds is `&Mutator`; safepoints,
//! parking and `collect` need `&mut`), never allocates (allocation may
//! sweep lazily and run destructors that use this map), never blocks and
//! runs no user code beyond the cell kinds' own methods (which must not use
//! the map they are in). So a lock holder is always a running mutator that
//! is about to release the lock, never one stopped at a safepoint that the
//! collector waits for while others spin on it; and a reader spins only
//! while such a writer is inside. Spinners back off, then yield the CPU.
//!
//! Iteration is not a snapshot: it walks the table it loaded at the start
//! (kept alive by the borrow of the mutator, as every `Gc` is). Each
//! entry it yields is read consistently (key and value from the same
//! moment); an entry present for the whole iteration is yielded exactly
//! once, even if the table is rebuilt meanwhile (the iterator goes on over
//! the old table, which a rebuild leaves intact, and entries never move
//! within a table); an entry inserted or removed during the iteration may
//! or may not be yielded. Modifying the map while iterating it (from the
//! loop body, or from another mutator) is therefore allowed.

use crate::api::array::Array;
use crate::api::gc::Gc;
use crate::api::mutator::Mutator;
use crate::api::slot::Slot;
use crate::api::trace::{Trace, Tracer};
use crate::toolkit::tail::Str;
use crate::toolkit::value::{Value, ValueSlot};
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{
    fence, AtomicBool, AtomicI32, AtomicI64, AtomicIsize, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering::*,
};

// ----- cell kinds ---------------------------------------------------------

/// A kind of map field: how one key or value is stored inside a heap
/// object (`Cell`), and what the map takes and hands out (`Item`).
///
/// Implemented for plain data (`u64`, `i64`, `u32`, `i32`, `usize`,
/// `isize`, `f64`, `bool`, `()`), for `Slot<T>` (a pointer, read back as a
/// `Gc<'m, T>`), for [`Str`](crate::Str) (a heap string, by content) and
/// for [`ValueSlot`] (a dynamic value). To add a
/// kind, implement this trait on a marker type; a key kind also implements
/// [`MapKey`].
///
/// Rules for an implementation (breaking them makes the map misbehave, not
/// unsound: every part of a cell is itself safe):
/// * `load` after `store(x)` returns `Some(x)`; `load` of `empty()` or of a
///   cleared cell returns `None` if the kind holds pointers.
/// * `clear` empties every pointer the cell holds (through the barrier,
///   e.g. `Slot::set(mu, None)`), so removed entries do not keep objects
///   alive.
/// * The methods do not use the map they are called on (they run while
///   its lock is held), and do not allocate.
///
/// A kind that is only a marker (like [`Str`]) should also implement
/// `Trace` (`NO_TRACE`, nothing to trace), so that `#[derive(Trace)]`
/// structs generic over a cell kind accept it: the derive bounds their type
/// parameters by `Trace`.
pub trait MapCell: 'static {
    /// The stored form. Read by the marker and other mutators while it
    /// changes, so it is made of atomics and `Slot`s.
    type Cell: Trace + Send + Sync + 'static;
    /// What the map takes and returns, valid while the mutator borrow `'m`
    /// lasts.
    type Item<'m>: Copy;

    /// An unused cell (no pointer): what a fresh table holds.
    fn empty() -> Self::Cell;

    /// The item the cell holds, or `None` if it holds none (a null pointer
    /// cell). Plain data always loads as `Some`.
    fn load<'m>(cell: &Self::Cell, mu: &'m Mutator) -> Option<Self::Item<'m>>;

    /// Stores `item` (pointers through the write barrier).
    fn store(cell: &Self::Cell, mu: &Mutator, item: Self::Item<'_>);

    /// Empties the cell, so that it no longer keeps anything alive. Plain
    /// data does nothing.
    fn clear(cell: &Self::Cell, mu: &Mutator);

    /// Copies `src` into `dst`, an [`empty`](MapCell::empty) cell of a
    /// table being built (growth). The default loads and stores; the
    /// built-in pointer kinds copy without a barrier call.
    #[inline]
    fn copy_to_fresh(src: &Self::Cell, dst: &Self::Cell, mu: &Mutator) {
        if let Some(x) = Self::load(src, mu) {
            Self::store(dst, mu, x);
        }
    }
}

/// A cell kind that can be a key: how its items hash and compare.
///
/// `eq(a, b)` implies equal hashes. The methods run with the map's lock
/// held: they must not use the map.
pub trait MapKey: MapCell {
    /// Feeds `item` to the map's hasher (seeded, fast; see [`GcMap`]).
    fn hash<H: Hasher>(item: Self::Item<'_>, state: &mut H);
    /// Whether two items are the same key.
    fn eq(a: Self::Item<'_>, b: Self::Item<'_>) -> bool;
}

/// A key kind that can be looked up by a borrowed form `Q` without making
/// an item: [`Str`] keys by `&str` or `&[u8]`
/// ([`GcMap::get_by`], [`GcMap::remove_by`], [`GcMap::insert_by`]).
///
/// `hash_query(q)` must feed the hasher exactly what `hash(item)` does for
/// every item that `matches` `q`.
pub trait MapQuery<Q: ?Sized>: MapKey {
    /// Feeds `q` to the hasher, as [`MapKey::hash`] does for a matching item.
    fn hash_query<H: Hasher>(q: &Q, state: &mut H);
    /// Whether `item` is the key `q` names.
    fn matches(item: Self::Item<'_>, q: &Q) -> bool;
}

macro_rules! int_cells {
    ($($t:ty => $atomic:ty),* $(,)?) => {$(
        /// Stored in an atomic; a key by value.
        impl MapCell for $t {
            type Cell = $atomic;
            type Item<'m> = $t;
            #[inline]
            fn empty() -> $atomic {
                <$atomic>::new(0)
            }
            // Relaxed: readers validate with the map's version word
            // (module comment), which orders them.
            #[inline]
            fn load(cell: &$atomic, _: &Mutator) -> Option<$t> {
                Some(cell.load(Relaxed))
            }
            #[inline]
            fn store(cell: &$atomic, _: &Mutator, item: $t) {
                cell.store(item, Relaxed)
            }
            #[inline]
            fn clear(_: &$atomic, _: &Mutator) {}
        }

        impl MapKey for $t {
            #[inline]
            fn hash<H: Hasher>(item: $t, state: &mut H) {
                state.write_u64(item as u64)
            }
            #[inline]
            fn eq(a: $t, b: $t) -> bool {
                a == b
            }
        }
    )*};
}

int_cells!(
    u64 => AtomicU64,
    i64 => AtomicI64,
    u32 => AtomicU32,
    i32 => AtomicI32,
    usize => AtomicUsize,
    isize => AtomicIsize,
);

/// A value stored as its bits in an atomic (not a key: NaN ≠ NaN).
impl MapCell for f64 {
    type Cell = AtomicU64;
    type Item<'m> = f64;
    #[inline]
    fn empty() -> AtomicU64 {
        AtomicU64::new(0)
    }
    #[inline]
    fn load(cell: &AtomicU64, _: &Mutator) -> Option<f64> {
        Some(f64::from_bits(cell.load(Relaxed)))
    }
    #[inline]
    fn store(cell: &AtomicU64, _: &Mutator, item: f64) {
        cell.store(item.to_bits(), Relaxed)
    }
    #[inline]
    fn clear(_: &AtomicU64, _: &Mutator) {}
}

/// A value stored in an atomic.
impl MapCell for bool {
    type Cell = AtomicBool;
    type Item<'m> = bool;
    #[inline]
    fn empty() -> AtomicBool {
        AtomicBool::new(false)
    }
    #[inline]
    fn load(cell: &AtomicBool, _: &Mutator) -> Option<bool> {
        Some(cell.load(Relaxed))
    }
    #[inline]
    fn store(cell: &AtomicBool, _: &Mutator, item: bool) {
        cell.store(item, Relaxed)
    }
    #[inline]
    fn clear(_: &AtomicBool, _: &Mutator) {}
}

/// No value: `GcMap<K, ()>` is a set (entries take no room for values).
impl MapCell for () {
    type Cell = ();
    type Item<'m> = ();
    #[inline]
    fn empty() {}
    #[inline]
    fn load(_: &(), _: &Mutator) -> Option<()> {
        Some(())
    }
    #[inline]
    fn store(_: &(), _: &Mutator, _: ()) {}
    #[inline]
    fn clear(_: &(), _: &Mutator) {}
}

/// A pointer to a `T`, read back as a `Gc<'m, T>`. As a key: by identity
/// (hashed by address; objects never move).
impl<T: Sync + 'static> MapCell for Slot<T> {
    type Cell = Slot<T>;
    type Item<'m> = Gc<'m, T>;
    #[inline]
    fn empty() -> Slot<T> {
        Slot::null()
    }
    #[inline]
    fn load<'m>(cell: &Slot<T>, mu: &'m Mutator) -> Option<Gc<'m, T>> {
        cell.get(mu)
    }
    #[inline]
    fn store(cell: &Slot<T>, mu: &Mutator, item: Gc<'_, T>) {
        cell.set(mu, item)
    }
    #[inline]
    fn clear(cell: &Slot<T>, mu: &Mutator) {
        if !cell.is_null() {
            cell.set(mu, None)
        }
    }
    #[inline]
    fn copy_to_fresh(src: &Slot<T>, dst: &Slot<T>, mu: &Mutator) {
        dst.copy_into_null(mu, src)
    }
}

impl<T: Sync + 'static> MapKey for Slot<T> {
    #[inline]
    fn hash<H: Hasher>(item: Gc<'_, T>, state: &mut H) {
        state.write_usize(Gc::as_ptr(item) as usize)
    }
    #[inline]
    fn eq(a: Gc<'_, T>, b: Gc<'_, T>) -> bool {
        Gc::ptr_eq(a, b)
    }
}

/// Strings by content: the cell kind of [`Str`](crate::Str), the heap
/// string (`mu.alloc_string(s)`). A cell holds a pointer to a `Str`, items
/// are `Gc<'m, Str>`, and two keys are equal when their bytes are. The hash
/// fed to the map is the string's own, computed once when it was allocated,
/// so hashing a key never reads its bytes; look keys up by `&str` or
/// `&[u8]` with the `_by` methods ([`MapQuery`]), which hash the query the
/// same way. Also usable as a value kind (a string value).
impl MapCell for Str {
    type Cell = Slot<Str>;
    type Item<'m> = Gc<'m, Str>;
    #[inline]
    fn empty() -> Slot<Str> {
        Slot::null()
    }
    #[inline]
    fn load<'m>(cell: &Slot<Str>, mu: &'m Mutator) -> Option<Gc<'m, Str>> {
        cell.get(mu)
    }
    #[inline]
    fn store(cell: &Slot<Str>, mu: &Mutator, item: Gc<'_, Str>) {
        cell.set(mu, item)
    }
    #[inline]
    fn clear(cell: &Slot<Str>, mu: &Mutator) {
        if !cell.is_null() {
            cell.set(mu, None)
        }
    }
    #[inline]
    fn copy_to_fresh(src: &Slot<Str>, dst: &Slot<Str>, mu: &Mutator) {
        dst.copy_into_null(mu, src)
    }
}

impl MapKey for Str {
    #[inline]
    fn hash<H: Hasher>(item: Gc<'_, Str>, state: &mut H) {
        state.write_u64(item.hash_code())
    }
    #[inline]
    fn eq(a: Gc<'_, Str>, b: Gc<'_, Str>) -> bool {
        Gc::ptr_eq(a, b) || (a.hash_code() == b.hash_code() && a.as_str() == b.as_str())
    }
}

impl MapQuery<[u8]> for Str {
    #[inline]
    fn hash_query<H: Hasher>(q: &[u8], state: &mut H) {
        state.write_u64(crate::toolkit::tail::bytes_hash(q))
    }
    #[inline]
    fn matches(item: Gc<'_, Str>, q: &[u8]) -> bool {
        item.tail() == q
    }
}

impl MapQuery<str> for Str {
    #[inline]
    fn hash_query<H: Hasher>(q: &str, state: &mut H) {
        state.write_u64(crate::toolkit::tail::bytes_hash(q.as_bytes()))
    }
    #[inline]
    fn matches(item: Gc<'_, Str>, q: &str) -> bool {
        item.as_str() == q
    }
}

/// Dynamic values: a cell is a [`ValueSlot`], items are [`Value`]s. As a
/// key, a value is compared and hashed by identity (`Value`'s `==`: the
/// same immediate, or the same object) — with strings interned
/// (`WeakSet<Str>`), identity is content, which is how an interpreter's
/// tables use it.
impl MapCell for ValueSlot {
    type Cell = ValueSlot;
    type Item<'m> = Value<'m>;
    #[inline]
    fn empty() -> ValueSlot {
        ValueSlot::nil()
    }
    #[inline]
    fn load<'m>(cell: &ValueSlot, mu: &'m Mutator) -> Option<Value<'m>> {
        Some(cell.get(mu))
    }
    #[inline]
    fn store(cell: &ValueSlot, mu: &Mutator, item: Value<'_>) {
        cell.set(mu, item)
    }
    #[inline]
    fn clear(cell: &ValueSlot, mu: &Mutator) {
        if cell.get(mu).is_object() {
            cell.set(mu, Value::NIL)
        }
    }
}

impl MapKey for ValueSlot {
    #[inline]
    fn hash<H: Hasher>(item: Value<'_>, state: &mut H) {
        state.write_u64(item.to_bits())
    }
    #[inline]
    fn eq(a: Value<'_>, b: Value<'_>) -> bool {
        a == b
    }
}

// ----- hashing --------------------------------------------------------------

/// The map's hasher: a multiply-fold hash (the 128-bit product of two words,
/// its halves xored; as in foldhash and wyhash) seeded once per process.
/// Much faster than std's SipHash for integer and pointer keys, and the
/// secret seed makes collisions hard to aim at without the seed, though it
/// is not a cryptographic hash.
struct MapHasher {
    acc: u64,
}

const K1: u64 = 0x243f_6a88_85a3_08d3; // digits of pi
const K2: u64 = 0x1319_8a2e_0370_7344;
const K3: u64 = 0xa409_3822_299f_31d0;

#[inline(always)]
fn fold(a: u64, b: u64) -> u64 {
    let p = (a as u128).wrapping_mul(b as u128);
    (p as u64) ^ ((p >> 64) as u64)
}

#[inline(always)]
fn read8(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

#[inline(always)]
fn read4(b: &[u8], at: usize) -> u64 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes")) as u64
}

impl Hasher for MapHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let len = bytes.len();
        let mut h = self.acc ^ (len as u64).wrapping_mul(K2);
        let mut rest = bytes;
        while rest.len() > 16 {
            // The second factor depends on the (seeded) state, so no chosen
            // chunk can zero the product for every seed.
            h = fold(read8(rest, 0) ^ h, read8(rest, 8) ^ h.rotate_left(29) ^ K1);
            rest = &rest[16..];
        }
        // 0 to 16 bytes left: two (possibly overlapping) reads.
        let n = rest.len();
        let (x, y) = if n >= 8 {
            (read8(rest, 0), read8(rest, n - 8))
        } else if n >= 4 {
            (read4(rest, 0), read4(rest, n - 4))
        } else if n > 0 {
            (((rest[0] as u64) << 16) | ((rest[n / 2] as u64) << 8) | rest[n - 1] as u64, 0)
        } else {
            (0, 0)
        };
        self.acc = fold(x ^ h ^ K3, y ^ h.rotate_left(29) ^ K1);
    }

    #[inline]
    fn write_u64(&mut self, x: u64) {
        self.acc = fold(self.acc ^ x, K1);
    }

    #[inline]
    fn write_u32(&mut self, x: u32) {
        self.write_u64(x as u64)
    }

    #[inline]
    fn write_usize(&mut self, x: usize) {
        self.write_u64(x as u64)
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.acc
    }
}

/// The per-process seed (0 until first used).
static SEED: AtomicU64 = AtomicU64::new(0);

#[inline]
fn hasher() -> MapHasher {
    let s = SEED.load(Relaxed);
    MapHasher { acc: if s != 0 { s } else { init_seed() } }
}

#[cold]
fn init_seed() -> u64 {
    // std's RandomState holds per-process random keys.
    let s = std::collections::hash_map::RandomState::new().hash_one(0x5eed_u64) | 1;
    match SEED.compare_exchange(0, s, Relaxed, Relaxed) {
        Ok(_) => s,
        Err(won) => won,
    }
}

#[inline]
fn hash_key<K: MapKey>(k: K::Item<'_>) -> u64 {
    let mut h = hasher();
    K::hash(k, &mut h);
    h.finish()
}

#[inline]
fn hash_query<K: MapQuery<Q>, Q: ?Sized>(q: &Q) -> u64 {
    let mut h = hasher();
    K::hash_query(q, &mut h);
    h.finish()
}

// ----- the table ----------------------------------------------------------

/// Control word of an entry never used: ends a probe.
const EMPTY: u64 = 0;
/// Control word of a removed entry: probes go on past it.
const TOMBSTONE: u64 = 1;
/// Set in the control word of a full entry (the rest is the key's hash).
const FULL: u64 = 1 << 63;

/// Fewest entries in a table.
const MIN_TABLE: usize = 8;
/// Optimistic read attempts before a reader takes the lock.
const OPTIMISTIC_READS: u32 = 4;

/// One table entry: control word, key cell, value cell.
#[repr(C)]
struct Entry<K: MapCell, V: MapCell> {
    ctrl: AtomicU64,
    key: K::Cell,
    val: V::Cell,
}

impl<K: MapCell, V: MapCell> Entry<K, V> {
    #[inline]
    fn empty() -> Self {
        Entry { ctrl: AtomicU64::new(EMPTY), key: K::empty(), val: V::empty() }
    }
}

// SAFETY: the cells are the entry's only possible GC pointers, and their
// own `Trace` impls visit them (reading only their atomics); the control
// word is plain data. NO_TRACE only when both cells are.
unsafe impl<K: MapCell, V: MapCell> Trace for Entry<K, V> {
    const NO_TRACE: bool = <K::Cell as Trace>::NO_TRACE && <V::Cell as Trace>::NO_TRACE;
    #[inline]
    fn trace(&self, t: &mut Tracer<'_>) {
        self.key.trace(t);
        self.val.trace(t);
    }
}

/// Table length (a power of two, at least `MIN_TABLE`) that holds `n`
/// entries within the 3/4 load limit.
fn table_len_for(n: usize) -> usize {
    let min = n.checked_mul(4).expect("shade: GcMap capacity overflow").div_ceil(3);
    min.checked_next_power_of_two().expect("shade: GcMap capacity overflow").max(MIN_TABLE)
}

/// Whether a table of `table_len` entries with `used` entries full or
/// tombstones can take one more into an empty entry.
#[inline]
fn has_room(table_len: usize, used: usize) -> bool {
    (used + 1) * 4 <= table_len * 3
}

/// Adds `d` to a counter of the map. Only lock holders write the counters,
/// so a load and a store do (an atomic read-modify-write per update was a
/// measurable part of an insert).
#[inline]
fn bump(counter: &AtomicUsize, d: isize) {
    counter.store(counter.load(Relaxed).wrapping_add_signed(d), Relaxed);
}

/// Where a probe ended.
enum Probe {
    /// The key is at this index.
    Found(usize),
    /// The key is absent; it would go at this index (the first tombstone
    /// on its path, else the empty entry that ended it).
    Vacant(usize),
    /// The key is absent and the table has no free entry on its path.
    Full,
}

/// Probe tag of an empty entry: ends a probe.
const TAG_EMPTY: u8 = 0;
/// Probe tag of a tombstone.
const TAG_TOMBSTONE: u8 = 1;

/// The probe tag of a control word: `EMPTY` and `TOMBSTONE` as themselves,
/// a full entry as the top byte of its control word (the `FULL` bit and 7
/// bits of the hash that the index, taken from the low bits, does not use).
#[inline]
fn tag_of(ctrl: u64) -> u8 {
    if ctrl & FULL != 0 {
        (ctrl >> 56) as u8
    } else {
        ctrl as u8
    }
}

/// A table: the entries and their probe tags, parallel arrays of the same
/// length (a power of two).
struct Table<'m, K: MapCell, V: MapCell> {
    tags: &'m Array<AtomicU8>,
    entries: &'m Array<Entry<K, V>>,
}

impl<K: MapCell, V: MapCell> Clone for Table<'_, K, V> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<K: MapCell, V: MapCell> Copy for Table<'_, K, V> {}

impl<'m, K: MapKey, V: MapCell> Table<'m, K, V> {
    #[inline]
    fn len(self) -> usize {
        self.entries.len()
    }

    #[inline]
    fn tag(self, i: usize) -> u8 {
        self.tags[i].load(Acquire)
    }

    /// Sets entry `i`'s control word and its tag (lock held).
    #[inline]
    fn set_ctrl(self, i: usize, ctrl: u64) {
        self.entries[i].ctrl.store(ctrl, Release);
        self.tags[i].store(tag_of(ctrl), Release);
    }

    /// Probes for the key `is_key` accepts (hash `hash`): linearly over
    /// the tags, reading an entry only when its tag matches, and then its
    /// full hash before its key.
    #[inline]
    fn probe(self, mu: &'m Mutator, hash: u64, is_key: &impl Fn(K::Item<'m>) -> bool) -> Probe {
        let mask = self.len() - 1;
        let ctrl = hash | FULL;
        let tag = tag_of(ctrl);
        let mut i = hash as usize & mask;
        let mut free = None;
        for _ in 0..self.len() {
            let t = self.tag(i);
            if t == tag {
                let e = &self.entries[i];
                // A torn read (without the lock) may find no key, or a tag
                // from another table; the version check then discards it.
                if e.ctrl.load(Acquire) == ctrl && K::load(&e.key, mu).is_some_and(is_key) {
                    return Probe::Found(i);
                }
            } else if t == TAG_EMPTY {
                return Probe::Vacant(free.unwrap_or(i));
            } else if t == TAG_TOMBSTONE && free.is_none() {
                free = Some(i);
            }
            i = (i + 1) & mask;
        }
        free.map_or(Probe::Full, Probe::Vacant)
    }
}

/// Holds the map's lock; releases it (the next even version) when dropped,
/// also on unwind.
struct WriteGuard<'a> {
    seq: &'a AtomicU64,
    next: u64,
}

impl Drop for WriteGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        self.seq.store(self.next, Release);
    }
}

/// Spin-wait step: busy for a while, then yield the CPU. Only ever waits
/// for a running mutator inside a short critical section (module comment).
#[inline]
fn backoff(spins: &mut u32) {
    if *spins < 6 {
        for _ in 0..(1u32 << *spins) {
            std::hint::spin_loop();
        }
    } else {
        std::thread::yield_now();
    }
    *spins += 1;
}

// ----- the map --------------------------------------------------------------

/// A hash map stored in the heap, from `K` keys to `V` values, where `K`
/// and `V` are cell kinds ([`MapCell`]): `u64` (and the other integers),
/// `Slot<T>` (objects; as keys, by identity), [`Str`] (strings by content),
/// `f64`, `bool`, `()` (a set). Use it as a field of a heap object (derive
/// `Trace` as usual) or allocate it on its own.
///
/// Operations take the mutator; the items they return live as long as its
/// borrow. Several mutators may share a map; every operation is
/// linearizable (a writer lock and optimistic, validated reads: the module
/// comment of `toolkit/map.rs` explains the design and the proofs).
/// Growth copies the entries in one pass and makes two barrier calls (the
/// table's two arrays), not one per entry.
/// Hashing is a fast multiply-fold hash seeded per process (not
/// cryptographic).
///
/// ```
/// use shade::{Config, GcMap, Heap, Slot, Str, Trace};
///
/// #[derive(Trace)]
/// struct Obj { n: u64 }
///
/// #[derive(Trace)]
/// struct Env { vars: GcMap<Str, Slot<Obj>> }
///
/// let heap = Heap::new(Config::default()).unwrap();
/// let mut mu = heap.mutator();
/// let env = mu.root(mu.alloc(Env { vars: GcMap::new() }));
/// let vars = &env.get(&mu).vars;
/// vars.insert(&mu, mu.alloc_string("x"), mu.alloc(Obj { n: 1 }));
/// // Looked up (and replaced) by &str: no key allocated when it exists.
/// vars.insert_by(&mu, "y", |mu| mu.alloc_string("y"), mu.alloc(Obj { n: 2 }));
/// mu.collect();
///
/// let vars = &env.get(&mu).vars;
/// assert_eq!(vars.get_by(&mu, "x").unwrap().n, 1);
/// assert_eq!(vars.remove_by(&mu, "y").unwrap().n, 2);
/// assert!(!vars.contains_key_by(&mu, "y"));
///
/// // Integer keys, a map allocated on its own.
/// let squares = mu.local(mu.alloc(GcMap::<u64, Slot<Obj>>::new()));
/// for i in 0..1000 {
///     squares.get(&mu).insert(&mu, i, mu.alloc(Obj { n: i * i }));
/// }
/// mu.collect();
/// let squares = squares.get(&mu);
/// assert_eq!(squares.len(), 1000);
/// assert_eq!(squares.get(&mu, 30).unwrap().n, 900);
/// assert_eq!(squares.iter(&mu).map(|(k, v)| v.n - k * k).sum::<u64>(), 0);
/// squares.retain(&mu, |k, _| k % 2 == 0);
/// assert_eq!(squares.len(), 500);
/// ```
pub struct GcMap<K: MapKey, V: MapCell> {
    /// Version word: odd while a writer holds the lock (module comment).
    seq: AtomicU64,
    /// Full entries of the current table.
    len: AtomicUsize,
    /// Tombstones of the current table.
    tombstones: AtomicUsize,
    /// The table's entries: null until the first insert.
    table: Slot<Array<Entry<K, V>>>,
    /// The table's probe tags (same length), replaced with `table`.
    tags: Slot<Array<AtomicU8>>,
}

// SAFETY: the two table slots are the map's only GC pointers (the counters
// and the version word are plain data); tracing them reads two atomics.
unsafe impl<K: MapKey, V: MapCell> Trace for GcMap<K, V> {
    #[inline]
    fn trace(&self, t: &mut Tracer<'_>) {
        self.table.trace(t);
        self.tags.trace(t);
    }
}

impl<K: MapKey, V: MapCell> Default for GcMap<K, V> {
    fn default() -> Self {
        GcMap::new()
    }
}

impl<K: MapKey, V: MapCell> fmt::Debug for GcMap<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GcMap").field("len", &self.len()).finish_non_exhaustive()
    }
}

#[cold]
#[inline(never)]
fn not_in_heap() -> ! {
    panic!(
        "shade: GcMap is not inside a heap object of this mutator's heap; a map must be allocated \
         (or be a field of an allocated object) before it is modified"
    )
}

impl<K: MapKey, V: MapCell> GcMap<K, V> {
    /// An empty map (no table until the first insert).
    pub const fn new() -> GcMap<K, V> {
        GcMap {
            seq: AtomicU64::new(0),
            len: AtomicUsize::new(0),
            tombstones: AtomicUsize::new(0),
            table: Slot::null(),
            tags: Slot::null(),
        }
    }

    /// An empty map with room for `n` entries before it grows, to be moved
    /// into an object allocated on this thread before its mutator's next
    /// safepoint (its table slot is built with `Slot::new`; see [`Slot`]).
    pub fn with_capacity(mu: &Mutator, n: usize) -> GcMap<K, V> {
        let mut map = GcMap::new();
        if n > 0 {
            let n = table_len_for(n);
            map.table = Slot::new(mu.alloc_array(n, |_| Entry::empty()));
            map.tags = Slot::new(mu.alloc_array(n, |_| AtomicU8::new(TAG_EMPTY)));
        }
        map
    }

    /// Number of entries.
    #[inline]
    pub fn len(&self) -> usize {
        self.len.load(Relaxed)
    }

    /// Whether the map is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entries the map holds before its table must grow.
    pub fn capacity(&self, mu: &Mutator) -> usize {
        self.table.get(mu).map_or(0, |t| t.len() / 4 * 3)
    }

    /// Takes the lock for a write (panicking if the map is not in the heap:
    /// its slots could not be written).
    #[inline]
    fn write_lock(&self, mu: &Mutator) -> WriteGuard<'_> {
        if !mu.in_heap(self as *const Self as usize) {
            not_in_heap();
        }
        self.lock()
    }

    #[inline]
    fn lock(&self) -> WriteGuard<'_> {
        let mut spins = 0;
        loop {
            let s = self.seq.load(Relaxed);
            if s & 1 == 0 && self.seq.compare_exchange_weak(s, s + 1, Acquire, Relaxed).is_ok() {
                // Orders the odd version before the section's stores, for
                // readers (module comment).
                fence(Release);
                return WriteGuard { seq: &self.seq, next: s + 2 };
            }
            backoff(&mut spins);
        }
    }

    /// Runs `f` (a read of the map) so that it sees the state between two
    /// writes: optimistically, validated by the version word, then under
    /// the lock (module comment).
    #[inline]
    fn read<R>(&self, f: impl Fn() -> R) -> R {
        for _ in 0..OPTIMISTIC_READS {
            let mut s = self.seq.load(Acquire);
            let mut spins = 0;
            while s & 1 != 0 {
                backoff(&mut spins);
                s = self.seq.load(Acquire);
            }
            let r = f();
            fence(Acquire);
            if self.seq.load(Relaxed) == s {
                return r;
            }
        }
        let _g = self.lock();
        f()
    }

    /// The current table. Both arrays are replaced together under the
    /// lock; a pair from two tables (lengths differ, or tags that do not
    /// match the entries) can only be loaded by a read that overlaps a
    /// rebuild, and the version check discards what such a read found.
    #[inline]
    fn table<'m>(&self, mu: &'m Mutator) -> Option<Table<'m, K, V>> {
        let entries = Gc::into_ref(self.table.get(mu)?);
        let tags = Gc::into_ref(self.tags.get(mu)?);
        (tags.len() == entries.len()).then_some(Table { tags, entries })
    }

    /// The value of the key `is_key` accepts (hash `hash`).
    #[inline]
    fn lookup<'m>(&self, mu: &'m Mutator, hash: u64, is_key: &impl Fn(K::Item<'m>) -> bool) -> Option<V::Item<'m>> {
        let t = self.table(mu)?;
        match t.probe(mu, hash, is_key) {
            Probe::Found(i) => V::load(&t.entries[i].val, mu),
            _ => None,
        }
    }

    /// The value stored for `key`.
    #[inline]
    pub fn get<'m>(&self, mu: &'m Mutator, key: K::Item<'_>) -> Option<V::Item<'m>> {
        let h = hash_key::<K>(key);
        self.read(|| self.lookup(mu, h, &|k| K::eq(k, key)))
    }

    /// Whether the map holds `key`.
    #[inline]
    pub fn contains_key(&self, mu: &Mutator, key: K::Item<'_>) -> bool {
        self.get(mu, key).is_some()
    }

    /// The value stored for the key `q` names (`get_by(&mu, "name")` for
    /// [`Str`] keys), without making a key.
    #[inline]
    pub fn get_by<'m, Q: ?Sized>(&self, mu: &'m Mutator, q: &Q) -> Option<V::Item<'m>>
    where
        K: MapQuery<Q>,
    {
        let h = hash_query::<K, Q>(q);
        self.read(|| self.lookup(mu, h, &|k| K::matches(k, q)))
    }

    /// Whether the map holds the key `q` names.
    #[inline]
    pub fn contains_key_by<Q: ?Sized>(&self, mu: &Mutator, q: &Q) -> bool
    where
        K: MapQuery<Q>,
    {
        self.get_by(mu, q).is_some()
    }

    /// Stores `val` for `key`; returns the value it replaced, if any.
    #[inline]
    pub fn insert<'m>(&self, mu: &'m Mutator, key: K::Item<'_>, val: V::Item<'_>) -> Option<V::Item<'m>> {
        let h = hash_key::<K>(key);
        self.upsert(mu, h, key, &|k| K::eq(k, key), val, true)
    }

    /// Stores `val` for the key `q` names; if the map has no such key, the
    /// key is `make_key(mu)` (called without the lock held: it may
    /// allocate). Returns the value it replaced, if any. For [`Str`] keys,
    /// `insert_by(&mu, "x", |mu| mu.alloc_string("x"), v)` allocates the key
    /// string only when it is new.
    ///
    /// # Panics
    /// If `make_key` returns a key that does not match `q`.
    pub fn insert_by<'m, Q: ?Sized>(
        &self,
        mu: &'m Mutator,
        q: &Q,
        make_key: impl FnOnce(&'m Mutator) -> K::Item<'m>,
        val: V::Item<'_>,
    ) -> Option<V::Item<'m>>
    where
        K: MapQuery<Q>,
    {
        let h = hash_query::<K, Q>(q);
        if self.table.is_null() {
            // Nothing to replace (and the map may not be writable yet).
        } else {
            let _g = self.write_lock(mu);
            if let Some(t) = self.table(mu) {
                if let Probe::Found(i) = t.probe(mu, h, &|k| K::matches(k, q)) {
                    let e = &t.entries[i];
                    let old = V::load(&e.val, mu);
                    V::store(&e.val, mu, val);
                    return old;
                }
            }
        }
        let key = make_key(mu);
        assert!(K::matches(key, q), "shade: GcMap::insert_by: make_key returned a key that does not match the query");
        // Another mutator (or a destructor run by make_key's allocation)
        // may have inserted the key meanwhile: insert replaces its value.
        self.upsert(mu, h, key, &|k| K::eq(k, key), val, true)
    }

    /// The value stored for `key`, or `make(mu)`'s, inserted. `make` runs
    /// without the lock held (it may allocate, and so run destructors that
    /// use the map); if another mutator inserted `key` meanwhile, its value
    /// is returned and `make`'s dropped.
    pub fn get_or_insert_with<'m>(
        &self,
        mu: &'m Mutator,
        key: K::Item<'_>,
        make: impl FnOnce(&'m Mutator) -> V::Item<'m>,
    ) -> V::Item<'m> {
        if let Some(v) = self.get(mu, key) {
            return v;
        }
        let val = make(mu);
        let h = hash_key::<K>(key);
        self.upsert(mu, h, key, &|k| K::eq(k, key), val, false).unwrap_or(val)
    }

    /// Inserts `key` (hash `hash`, accepted by `is_key`) with `val`, or, if
    /// present, returns its value and replaces it if `replace`.
    fn upsert<'m>(
        &self,
        mu: &'m Mutator,
        hash: u64,
        key: K::Item<'_>,
        is_key: &impl Fn(K::Item<'m>) -> bool,
        val: V::Item<'_>,
        replace: bool,
    ) -> Option<V::Item<'m>> {
        loop {
            let (seen, want) = {
                let _g = self.write_lock(mu);
                let table = self.table(mu);
                if let Some(t) = table {
                    match t.probe(mu, hash, is_key) {
                        Probe::Found(i) => {
                            let e = &t.entries[i];
                            let old = V::load(&e.val, mu);
                            if replace {
                                V::store(&e.val, mu, val);
                            }
                            return old;
                        }
                        Probe::Vacant(i) => {
                            let reuse = t.tag(i) == TAG_TOMBSTONE;
                            let used = self.len.load(Relaxed) + self.tombstones.load(Relaxed);
                            if reuse || has_room(t.len(), used) {
                                let e = &t.entries[i];
                                // Cells first, then the control word, then
                                // the counts: a panic in a store (a value
                                // from another heap) leaves no half entry.
                                V::store(&e.val, mu, val);
                                K::store(&e.key, mu, key);
                                t.set_ctrl(i, hash | FULL);
                                if reuse {
                                    bump(&self.tombstones, -1);
                                }
                                bump(&self.len, 1);
                                return None;
                            }
                        }
                        Probe::Full => {}
                    }
                }
                let (cap, len) = (table.map_or(0, |t| t.len()), self.len.load(Relaxed));
                // At most half live (the rest tombstones): rebuild at the
                // same size; else double.
                let want = if cap > 0 && (len + 1) * 2 <= cap { cap } else { cap * 2 };
                (self.table.raw(), want.max(table_len_for(len + 1)))
            };
            self.rebuild(mu, seen, want);
            // Retry: the insert now finds room (unless others filled it).
        }
    }

    /// Replaces the table with a fresh one of `want` entries holding the
    /// same entries (the one barrier call is the table slot's store),
    /// unless the table is no longer `seen` (the address of the table the
    /// caller decided on; it is alive for the caller's mutator borrow, so
    /// the address cannot be reused meanwhile) or no longer fits. Called
    /// without the lock: the allocation happens before taking it.
    fn rebuild(&self, mu: &Mutator, seen: usize, want: usize) {
        let fresh_entries = mu.alloc_array(want, |_| Entry::<K, V>::empty());
        let fresh_tags = mu.alloc_array(want, |_| AtomicU8::new(TAG_EMPTY));
        let fresh = Table { tags: Gc::into_ref(fresh_tags), entries: Gc::into_ref(fresh_entries) };
        let _g = self.write_lock(mu);
        if self.table.raw() != seen || table_len_for(self.len.load(Relaxed)) > want {
            return; // changed meanwhile: the caller decides again
        }
        let mask = want - 1;
        let mut live = 0;
        if let Some(old) = self.table(mu) {
            for e in old.entries.iter() {
                let c = e.ctrl.load(Relaxed);
                if c & FULL == 0 {
                    continue;
                }
                // Fewer full entries than `want` (checked above): this ends.
                let mut i = c as usize & mask;
                while fresh.tag(i) != TAG_EMPTY {
                    i = (i + 1) & mask;
                }
                let d = &fresh.entries[i];
                K::copy_to_fresh(&e.key, &d.key, mu);
                V::copy_to_fresh(&e.val, &d.val, mu);
                fresh.set_ctrl(i, c);
                live += 1;
            }
        }
        self.len.store(live, Relaxed);
        self.tombstones.store(0, Relaxed);
        // The release stores publish the copied entries; these two are the
        // rebuild's only barrier calls.
        self.table.set(mu, fresh_entries);
        self.tags.set(mu, fresh_tags);
    }

    /// Makes room for at least `additional` more entries without growing.
    pub fn reserve(&self, mu: &Mutator, additional: usize) {
        loop {
            let (seen, want) = {
                let _g = self.write_lock(mu);
                let cap = self.table(mu).map_or(0, |t| t.len());
                let want = table_len_for(self.len.load(Relaxed).saturating_add(additional));
                if want <= cap {
                    return;
                }
                (self.table.raw(), want)
            };
            self.rebuild(mu, seen, want);
        }
    }

    /// Gives memory back: rebuilds the table at the smallest size that
    /// holds the entries (drops it if there are none).
    pub fn shrink_to_fit(&self, mu: &Mutator) {
        if self.table.is_null() {
            return;
        }
        let (seen, want) = {
            let _g = self.write_lock(mu);
            let Some(t) = self.table(mu) else { return };
            let len = self.len.load(Relaxed);
            if len == 0 {
                self.tombstones.store(0, Relaxed);
                self.table.set(mu, None);
                self.tags.set(mu, None);
                return;
            }
            let want = table_len_for(len);
            if want >= t.len() {
                return;
            }
            (self.table.raw(), want)
        };
        // If entries were added meanwhile, this does nothing: best effort.
        self.rebuild(mu, seen, want);
    }

    /// Removes the entry at `i` of the current table `t` (lock held),
    /// clearing its cells so it keeps nothing alive.
    fn vacate(&self, mu: &Mutator, t: Table<'_, K, V>, i: usize) {
        let mask = t.len() - 1;
        let e = &t.entries[i];
        K::clear(&e.key, mu);
        V::clear(&e.val, mu);
        bump(&self.len, -1);
        if t.tag((i + 1) & mask) != TAG_EMPTY {
            t.set_ctrl(i, TOMBSTONE);
            bump(&self.tombstones, 1);
            return;
        }
        // Followed by an empty entry: no probe needs this one, nor the
        // tombstones right before it. Stops at `i` at the latest (now empty).
        t.set_ctrl(i, EMPTY);
        let mut j = i.wrapping_sub(1) & mask;
        while t.tag(j) == TAG_TOMBSTONE {
            t.set_ctrl(j, EMPTY);
            bump(&self.tombstones, -1);
            j = j.wrapping_sub(1) & mask;
        }
    }

    fn remove_where<'m>(
        &self,
        mu: &'m Mutator,
        hash: u64,
        is_key: &impl Fn(K::Item<'m>) -> bool,
    ) -> Option<V::Item<'m>> {
        if self.table.is_null() {
            return None;
        }
        let _g = self.write_lock(mu);
        let t = self.table(mu)?;
        match t.probe(mu, hash, is_key) {
            Probe::Found(i) => {
                let old = V::load(&t.entries[i].val, mu);
                self.vacate(mu, t, i);
                old
            }
            _ => None,
        }
    }

    /// Removes `key`; returns its value, if it was present.
    #[inline]
    pub fn remove<'m>(&self, mu: &'m Mutator, key: K::Item<'_>) -> Option<V::Item<'m>> {
        let h = hash_key::<K>(key);
        self.remove_where(mu, h, &|k| K::eq(k, key))
    }

    /// Removes the key `q` names; returns its value, if it was present.
    #[inline]
    pub fn remove_by<'m, Q: ?Sized>(&self, mu: &'m Mutator, q: &Q) -> Option<V::Item<'m>>
    where
        K: MapQuery<Q>,
    {
        let h = hash_query::<K, Q>(q);
        self.remove_where(mu, h, &|k| K::matches(k, q))
    }

    /// Removes every entry (the capacity is kept; see
    /// [`shrink_to_fit`](GcMap::shrink_to_fit)).
    pub fn clear(&self, mu: &Mutator) {
        if self.table.is_null() {
            return;
        }
        let _g = self.write_lock(mu);
        let Some(t) = self.table(mu) else { return };
        for (i, e) in t.entries.iter().enumerate() {
            let c = e.ctrl.load(Relaxed);
            if c & FULL != 0 {
                K::clear(&e.key, mu);
                V::clear(&e.val, mu);
            }
            if c != EMPTY {
                t.set_ctrl(i, EMPTY);
            }
        }
        self.len.store(0, Relaxed);
        self.tombstones.store(0, Relaxed);
    }

    /// Keeps only the entries for which `keep` returns true. `keep` runs
    /// without the lock held (it may use the map and allocate); each
    /// rejected entry is removed by key, so with concurrent writers an
    /// entry whose value was replaced after `keep` saw it is removed too.
    pub fn retain<'m>(&'m self, mu: &'m Mutator, mut keep: impl FnMut(K::Item<'m>, V::Item<'m>) -> bool) {
        for (k, v) in self.iter(mu) {
            if !keep(k, v) {
                self.remove(mu, k);
            }
        }
    }

    /// The entries, in table order (see the module comment for what
    /// iterating during modification yields).
    pub fn iter<'m>(&'m self, mu: &'m Mutator) -> GcMapIter<'m, K, V> {
        GcMapIter { map: self, mu, table: self.table.get(mu).map(Gc::into_ref), next: 0 }
    }

    /// The keys, in table order.
    pub fn keys<'m>(&'m self, mu: &'m Mutator) -> impl Iterator<Item = K::Item<'m>> + 'm {
        self.iter(mu).map(|(k, _)| k)
    }

    /// The values, in table order.
    pub fn values<'m>(&'m self, mu: &'m Mutator) -> impl Iterator<Item = V::Item<'m>> + 'm {
        self.iter(mu).map(|(_, v)| v)
    }
}

/// Iterator over a [`GcMap`]'s entries ([`GcMap::iter`]).
pub struct GcMapIter<'m, K: MapKey, V: MapCell> {
    map: &'m GcMap<K, V>,
    mu: &'m Mutator,
    /// The entries of the table loaded at the start (their control words
    /// say which are full); a rebuild leaves them intact.
    table: Option<&'m Array<Entry<K, V>>>,
    next: usize,
}

impl<'m, K: MapKey, V: MapCell> Iterator for GcMapIter<'m, K, V> {
    type Item = (K::Item<'m>, V::Item<'m>);

    fn next(&mut self) -> Option<Self::Item> {
        let t = self.table?;
        let mu = self.mu;
        while self.next < t.len() {
            let e = &t[self.next];
            self.next += 1;
            // An entry seen not full is skipped without validation: it was
            // not full at that moment.
            if e.ctrl.load(Acquire) & FULL == 0 {
                continue;
            }
            let kv = self.map.read(|| {
                if e.ctrl.load(Acquire) & FULL == 0 {
                    return None;
                }
                Some((K::load(&e.key, mu)?, V::load(&e.val, mu)?))
            });
            if kv.is_some() {
                return kv;
            }
        }
        None
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.table.map_or(0, |t| t.len() - self.next)))
    }
}

impl<K: MapKey, V: MapCell> fmt::Debug for GcMapIter<'_, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GcMapIter").field("next", &self.next).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_sizes_keep_the_load_limit() {
        assert_eq!(table_len_for(0), MIN_TABLE);
        assert_eq!(table_len_for(6), 8);
        assert_eq!(table_len_for(7), 16);
        for n in 1..2000 {
            let t = table_len_for(n);
            assert!(t.is_power_of_two() && n * 4 <= t * 3 && (t == MIN_TABLE || n * 4 > t / 2 * 3), "{n} -> {t}");
        }
    }

    #[test]
    fn the_hash_spreads_sequential_keys_and_short_strings() {
        // Low bits (the table index) of sequential integers: no bucket of
        // 1024 gets more than a few times its share.
        let mut buckets = [0u32; 1024];
        for k in 0..100_000u64 {
            let h = hash_key::<u64>(k);
            assert_ne!(h | FULL, TOMBSTONE);
            buckets[h as usize & 1023] += 1;
        }
        assert!(buckets.iter().all(|&b| b < 100 * 3), "{:?}", buckets.iter().max());
        // Strings of every length up to 40 that differ in one byte hash apart.
        let mut seen = std::collections::HashSet::new();
        for len in 0..40usize {
            for pos in 0..len.max(1) {
                let mut s = vec![b'a'; len];
                if len > 0 {
                    s[pos] = b'b';
                }
                let mut h = hasher();
                h.write(&s);
                seen.insert(h.finish());
            }
        }
        assert_eq!(seen.len(), 1 + (1..40).sum::<usize>());
    }
}
