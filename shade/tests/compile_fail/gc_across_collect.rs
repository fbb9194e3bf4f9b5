// Nor across an explicit collection.
use shade::{Config, Heap, Slot, Trace};

#[derive(Trace)]
struct Node {
    next: Slot<Node>,
}

fn main() {
    let heap = Heap::new(Config::default()).unwrap();
    let mut mu = heap.mutator();
    let a = mu.alloc(Node { next: Slot::null() });
    let b = a.next.get(&mu);
    mu.collect();
    let _ = (a, b);
}
