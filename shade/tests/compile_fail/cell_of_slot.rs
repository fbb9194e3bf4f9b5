// A slot in a `Cell` could be swapped behind the marker's back.
use shade::{Config, Heap, Slot, Trace};
use std::cell::Cell;

#[derive(Trace)]
struct Leaf {
    x: u64,
}

#[derive(Trace)]
struct Holder {
    c: Cell<Option<Slot<Leaf>>>,
}

fn main() {
    let heap = Heap::new(Config::default()).unwrap();
    let mu = heap.mutator();
    let _ = mu.alloc(Holder { c: Cell::new(None) });
}
