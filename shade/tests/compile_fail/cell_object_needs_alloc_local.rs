// An object with a Cell field is !Sync, so a Slot to it is !Send, so an
// object holding such a slot is !Send: `alloc` refuses it (`alloc_local`
// takes it, as it has no destructor).
use shade::{Config, Heap, Slot, Trace};
use std::cell::Cell;

#[derive(Trace)]
struct Node {
    visits: Cell<u32>,
    next: Slot<Node>,
}

fn main() {
    let heap = Heap::new(Config::default()).unwrap();
    let mu = heap.mutator();
    let _ = mu.alloc(Node { visits: Cell::new(0), next: Slot::null() });
}
