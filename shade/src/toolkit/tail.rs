//! `Tail<H, T>`: an object with a fixed header and an inline,
//! variable-length tail, in one allocation — a closure's prototype and its
//! upvalues, a string's hash and its bytes. And `Str`, the string type
//! built on it: validated as UTF-8 once, at allocation, with its hash
//! computed then.
//!
//! ```text
//!   payload:  H (padded to 8) │ len │ T × len
//! ```
//!
//! Like `Array<T>` (which is `Tail<(), T>` in all but name and keeps its
//! own code for its bulk slot operations), the length counts initialised
//! elements, so a panic in the element initialiser leaves an object whose
//! drop drops exactly what was built; the header is written first. The
//! tail is traced after the header; large tails are scanned whole (no
//! oblets: use an `Array` for very large element vectors).

use crate::api::error::AllocError;
use crate::api::gc::Gc;
use crate::api::mutator::{elements_payload, Mutator};
use crate::api::trace::{Trace, Tracer};
use crate::heap::object::{object_size, TypeInfo};
use std::any::TypeId;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;

/// A heap object made of a header `H` and `len()` elements of `T` stored
/// inline after it. Allocate with [`Mutator::alloc_tail`]; it dereferences
/// to its header, and [`tail`](Tail::tail) is the elements.
///
/// ```
/// use shade::{Config, Heap, Tail, Trace, Value, ValueSlot};
///
/// #[derive(Trace)]
/// struct Proto { arity: u32 }
///
/// let heap = Heap::new(Config::default()).unwrap();
/// let mu = heap.mutator();
/// // A closure: its prototype and three upvalues, one object.
/// let c = mu.alloc_tail(Proto { arity: 2 }, 3, |i| ValueSlot::new(Value::int(i as i32)));
/// assert_eq!(c.arity, 2);
/// assert_eq!(c.tail().len(), 3);
/// assert_eq!(c.tail()[2].get(&mu).as_int(), Some(2));
/// c.tail()[0].set(&mu, Value::number(0.5));
/// ```
#[repr(C)]
pub struct Tail<H, T> {
    head: H,
    len: usize,
    _t: PhantomData<T>,
    // `len` elements of T follow, at `DATA`.
}

impl<H, T> Tail<H, T> {
    /// Offset of the first element: the struct's size (a multiple of 8, as
    /// `len` is a word and `H`'s alignment is at most 8).
    const DATA: usize = std::mem::size_of::<Tail<H, T>>();

    /// The header.
    #[inline]
    pub fn head(&self) -> &H {
        &self.head
    }

    /// The number of elements.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the tail is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The elements.
    #[inline]
    pub fn tail(&self) -> &[T] {
        // The elements lie past `Self`, outside what a pointer derived from
        // `&self` may access: take the arena's exposed provenance from the
        // address (as `Array::as_slice` does).
        let data = std::ptr::with_exposed_provenance::<T>(self as *const Self as usize + Self::DATA);
        // SAFETY: a `Tail` only exists as a heap object whose payload is the
        // header, the length and `len` initialised elements (`alloc_tail`).
        unsafe { std::slice::from_raw_parts(data, self.len) }
    }
}

impl<H, T> std::ops::Deref for Tail<H, T> {
    type Target = H;
    #[inline]
    fn deref(&self) -> &H {
        &self.head
    }
}

impl<H: fmt::Debug, T: fmt::Debug> fmt::Debug for Tail<H, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tail").field("head", &self.head).field("tail", &self.tail()).finish()
    }
}

// SAFETY: the header and every initialised element are traced; both are
// inline in the object and mutable only through their own atomics.
unsafe impl<H: Trace, T: Trace> Trace for Tail<H, T> {
    const NO_TRACE: bool = H::NO_TRACE && T::NO_TRACE;
    #[inline]
    fn trace(&self, t: &mut Tracer<'_>) {
        self.head.trace(t);
        if !T::NO_TRACE {
            for e in self.tail() {
                e.trace(t);
            }
        }
    }
}

struct TailInfo<H, T>(PhantomData<(H, T)>);

impl<H: Trace + 'static, T: Trace + 'static> TailInfo<H, T> {
    const INFO: TypeInfo = TypeInfo {
        trace: trace_tail::<H, T>,
        trace_range: None,
        drop: if std::mem::needs_drop::<H>() || std::mem::needs_drop::<T>() { Some(drop_tail::<H, T>) } else { None },
        name: std::any::type_name::<Tail<H, T>>,
        type_id: TypeId::of::<Tail<H, T>>(),
        dyn_table: H::DYN,
    };
}

/// # Safety
/// `p` is the payload of a live `Tail<H, T>`.
unsafe fn trace_tail<H: Trace, T: Trace>(p: *const u8, t: &mut Tracer<'_>) {
    // SAFETY: guaranteed by the caller.
    unsafe { (*(p as *const Tail<H, T>)).trace(t) }
}

/// # Safety
/// `p` is the payload of an unreachable `Tail<H, T>`, dropped once.
unsafe fn drop_tail<H, T>(p: *mut u8) {
    // SAFETY: guaranteed by the caller; `len` counts initialised elements.
    unsafe {
        let obj = p as *mut Tail<H, T>;
        let len = (*obj).len;
        std::ptr::drop_in_place(&mut (*obj).head);
        let data = p.add(Tail::<H, T>::DATA) as *mut T;
        std::ptr::drop_in_place(std::ptr::slice_from_raw_parts_mut(data, len));
    }
}

impl Mutator {
    /// Allocates a [`Tail`]: `head`, then `len` elements, element `i` being
    /// `init(i)`. The header's registered traits (`#[shade(dyn(...))]`) are
    /// the object's.
    ///
    /// # Panics
    /// As [`alloc_array`](Mutator::alloc_array).
    pub fn alloc_tail<H, T>(&self, head: H, len: usize, init: impl FnMut(usize) -> T) -> Gc<'_, Tail<H, T>>
    where
        H: Trace + Send + 'static,
        T: Trace + Send + 'static,
    {
        match self.try_alloc_tail(head, len, init) {
            Ok(g) => g,
            Err(e) => panic!("{e}"),
        }
    }

    /// Fallible [`alloc_tail`](Mutator::alloc_tail).
    pub fn try_alloc_tail<H, T>(
        &self,
        head: H,
        len: usize,
        init: impl FnMut(usize) -> T,
    ) -> Result<Gc<'_, Tail<H, T>>, AllocError>
    where
        H: Trace + Send + 'static,
        T: Trace + Send + 'static,
    {
        const {
            assert!(
                std::mem::align_of::<H>() <= 8 && std::mem::align_of::<T>() <= 8,
                "shade: heap types may not need more than 8-byte alignment"
            )
        };
        let payload = elements_payload::<T>(Tail::<H, T>::DATA, len)?;
        self.check_pointers(&head);
        let noscan = H::NO_TRACE && T::NO_TRACE;
        let p = self.alloc_raw(object_size(payload), noscan, &TailInfo::<H, T>::INFO)?;
        let obj = p as *mut Tail<H, T>;
        // SAFETY: the object is ours until published; the header is written
        // before the elements (a panic in `init` then leaves an unreachable
        // object whose drop drops the header and exactly the elements
        // built: `init_elements`), and the payload has room for the header,
        // the length and `len` elements at `DATA`.
        unsafe {
            std::ptr::addr_of_mut!((*obj).head).write(head);
            self.init_elements(std::ptr::addr_of_mut!((*obj).len), (p + Tail::<H, T>::DATA) as *mut T, len, init);
        }
        // SAFETY: as in `try_alloc`.
        Ok(unsafe { Gc::from_raw(p) })
    }

    /// Allocates a [`Str`]: the bytes of `s` and their hash, one object.
    pub fn alloc_string(&self, s: &str) -> Gc<'_, Str> {
        let bytes = s.as_bytes();
        self.alloc_tail(StrHead { hash: str_hash(s) }, bytes.len(), |i| bytes[i])
    }
}

/// The header of a [`Str`]: its hash. Only [`Mutator::alloc_string`] makes
/// one (the field is private), which is what guarantees a `Str`'s bytes
/// are UTF-8.
pub struct StrHead {
    hash: u64,
}

// SAFETY: plain data.
unsafe impl Trace for StrHead {
    const NO_TRACE: bool = true;
    fn trace(&self, _: &mut Tracer<'_>) {}
}

/// A string in the heap: its hash and its UTF-8 bytes in one object,
/// validated once when it is allocated ([`Mutator::alloc_string`]), so
/// [`as_str`](Tail::as_str) costs nothing. It borrows as `str`, so a
/// [`WeakSet<Str>`](crate::WeakSet) interns strings looked up by `&str`.
///
/// ```
/// use shade::{Config, Heap};
/// let heap = Heap::new(Config::default()).unwrap();
/// let mu = heap.mutator();
/// let s = mu.alloc_string("héllo");
/// assert_eq!(s.as_str(), "héllo");
/// assert_eq!(s.hash_code(), mu.alloc_string("héllo").hash_code());
/// ```
pub type Str = Tail<StrHead, u8>;

/// A string's hash: eight bytes at a time, each word folded in with a
/// 64×64→128-bit multiply (as wyhash and foldhash do). The same for a `Str`
/// and the `&str` or bytes it is looked up with (`GcMap`, which mixes it
/// again with its own seeded hasher). Not keyed: a table that must resist
/// chosen collisions should hash the bytes with a keyed hasher.
fn str_hash(s: &str) -> u64 {
    bytes_hash(s.as_bytes())
}

#[inline]
fn fold(a: u64, b: u64) -> u64 {
    let p = (a as u128).wrapping_mul(b as u128);
    (p as u64) ^ ((p >> 64) as u64)
}

/// See `str_hash`.
pub(crate) fn bytes_hash(b: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h = 0x243F_6A88_85A3_08D3 ^ b.len() as u64;
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        h = fold(h ^ w, K);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = fold(h ^ u64::from_le_bytes(w), K);
    }
    fold(h, K ^ 0x5851_F42D_4C95_7F2D)
}

impl Tail<StrHead, u8> {
    /// The string.
    #[inline]
    pub fn as_str(&self) -> &str {
        // SAFETY: a `Tail<StrHead, u8>` is only made by `alloc_string`, from
        // a `&str`'s bytes (no one else can make a `StrHead`).
        unsafe { std::str::from_utf8_unchecked(self.tail()) }
    }

    /// The hash computed at allocation.
    #[inline]
    pub fn hash_code(&self) -> u64 {
        self.head.hash
    }
}

impl std::borrow::Borrow<str> for Tail<StrHead, u8> {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for Tail<StrHead, u8> {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}
impl Eq for Tail<StrHead, u8> {}

impl Hash for Tail<StrHead, u8> {
    /// Hashes like the `&str` (as `Borrow` requires).
    fn hash<S: Hasher>(&self, state: &mut S) {
        self.as_str().hash(state)
    }
}

impl fmt::Display for Tail<StrHead, u8> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for StrHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StrHead({:#x})", self.hash)
    }
}
