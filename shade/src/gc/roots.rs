//! The root set: what the collector greys at mark start, and the
//! registrations behind the public root handles.
//!
//! Three kinds, all per mutator (so registering one takes no global lock)
//! and all read only when the mutator greys its roots at mark start (by
//! itself, or by the collector while it is parked: gc/handshake.rs) and by
//! `checkmark` at termination, with the world stopped:
//!
//! * `RootNode`: the registration of a `Root` handle (`api/root.rs`), an
//!   `Arc` shared with the handles; dropped from the list once only the
//!   list's own reference is left.
//! * `LocalTable`: the slab behind `Local`s.
//! * `StackWords`: the value words of a `RootStack` (`toolkit/stack.rs`),
//!   traced as value words (only the pointers among them). Stores into a
//!   root stack take no barrier: DESIGN.md §11 says why the snapshot stays
//!   sound.

use crate::heap::value;
use crate::runtime::{MutatorState, Runtime};
use std::cell::UnsafeCell;
use std::sync::Arc;

/// The registration behind a `Root`.
pub(crate) struct RootNode {
    /// Payload address of the rooted object (objects never move).
    pub(crate) ptr: usize,
    pub(crate) heap: u64,
}

/// The per-mutator table of `Local` roots.
///
/// Indices are `usize`, as wide as the table can grow: a narrower index
/// would wrap past its range and let two `Local`s share an entry, so that
/// dropping one unroots the other's object.
#[derive(Default)]
pub(crate) struct LocalTable {
    slots: Vec<usize>,
    free: Vec<usize>,
}

impl LocalTable {
    pub(crate) fn add(&mut self, p: usize) -> usize {
        match self.free.pop() {
            Some(i) => {
                self.slots[i] = p;
                i
            }
            None => {
                self.slots.push(p);
                self.slots.len() - 1
            }
        }
    }

    pub(crate) fn remove(&mut self, i: usize) {
        self.slots[i] = 0;
        self.free.push(i);
    }

    /// Entries in use or free: at least the number of live ones.
    pub(crate) fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// The rooted payload addresses.
    pub(crate) fn live(&self) -> impl Iterator<Item = usize> + '_ {
        self.slots.iter().copied().filter(|&p| p != 0)
    }
}

/// The words of one root stack.
///
/// The owning mutator's thread reads and writes them while its mutator is
/// running (every `RootStack` operation takes the running mutator, and
/// checks it is the owner); the collector reads them only while that
/// mutator is stopped or parked. Stopping hands the words over through the
/// stop-the-world mutex, as for the mutator's cache and buffers (runtime.rs,
/// `MutatorState`).
pub(crate) struct StackWords {
    pub(crate) words: UnsafeCell<Vec<u64>>,
}

// SAFETY: used by one thread at a time, handed over as described above.
unsafe impl Sync for StackWords {}
// SAFETY: as above.
unsafe impl Send for StackWords {}

impl Runtime {
    /// Collects the root set: live `Root`s (dropping dead registrations),
    /// `Local`s and root stacks of every attached mutator, and orphaned
    /// roots. Runs with the world stopped.
    pub(crate) fn gather_roots(&self) -> Vec<usize> {
        let mut roots = Vec::new();
        for m in self.mutators.lock().iter() {
            self.roots_of(m, &mut roots);
        }
        self.orphan_roots_into(&mut roots);
        roots
    }

    /// Appends one mutator's roots: its live `Root`s (dropping dead
    /// registrations), `Local`s and root stacks. The caller has exclusive
    /// use of the mutator's root stacks: the world is stopped, or it is the
    /// mutator's running owner or holds its `hs` lock while it is parked
    /// (gc/handshake.rs).
    pub(crate) fn roots_of(&self, m: &MutatorState, out: &mut Vec<usize>) {
        keep_live(&mut m.roots.lock(), out);
        out.extend(m.locals.lock().live());
        // A dropped `RootStack` unregisters itself (toolkit/stack.rs).
        for s in m.stacks.lock().iter() {
            // SAFETY: per the contract, the owning mutator is not using its
            // stacks, so they are ours to read (`StackWords`).
            let words = unsafe { &*s.words.get() };
            out.extend(words.iter().map(|&w| value::pointer_of(w)).filter(|&p| p != 0));
        }
    }

    /// Appends the roots of detached mutators (dropping dead registrations).
    pub(crate) fn orphan_roots_into(&self, out: &mut Vec<usize>) {
        keep_live(&mut self.orphan_roots.lock(), out);
    }
}

/// Appends the targets of the registrations that still have handles, and
/// drops the others. A registration whose handles are all dropped has count
/// 1 (the registry's own reference); counts only fall to 1 when the last
/// handle goes, never rise from it, so this test is stable.
fn keep_live(list: &mut Vec<Arc<RootNode>>, out: &mut Vec<usize>) {
    list.retain(|r| Arc::strong_count(r) > 1);
    out.extend(list.iter().map(|r| r.ptr));
}
