//! `SHADE_DEBUG=checkmark=1`: after concurrent marking has terminated, with
//! the world still stopped, re-mark the heap from the roots using a private
//! visited set and panic if any object reachable now lacks its mark bit.
//!
//! At termination every object reachable from the roots must be marked:
//! it was either reachable at the snapshot (marked, by the barrier's
//! invariant) or allocated since (allocated black). So a failure here is a
//! collector bug (or unsafe code that bypassed the barrier), caught before
//! the sweep would free a live object.

use crate::api::trace::{Tracer, TracerKind};
use crate::runtime::Runtime;
use std::collections::HashSet;

pub(crate) fn verify(rt: &Runtime, roots: &[usize]) {
    let mut seen: HashSet<usize> = HashSet::new();
    let mut stack: Vec<usize> = roots.to_vec();
    let mut edges = Vec::new();
    while let Some(p) = stack.pop() {
        if !seen.insert(p) {
            continue;
        }
        let Some(span) = rt.mheap.span_of(p) else {
            panic!("shade checkmark: reachable pointer {p:#x} is not in the heap");
        };
        let idx = span.index_of(p);
        let base = span.base_of(idx);
        if !span.mark.get(idx) {
            let name = (span.ty().name)();
            panic!("shade checkmark: object {p:#x} of type {name} is reachable but was not marked");
        }
        if span.noscan() {
            continue;
        }
        edges.clear();
        let mut t = Tracer { kind: TracerKind::Collect(&mut edges) };
        // SAFETY: a reachable object is allocated, initialised and of its
        // span's type; the world is stopped, nothing changes the object.
        unsafe { (span.ty().trace)(base as *const u8, &mut t) };
        stack.extend_from_slice(&edges);
    }
}
