// A `Vec` of slots lives in malloc'd memory the collector does not scan
// safely: the type cannot be allocated.
use shade::{Config, Heap, Slot, Trace};

#[derive(Trace)]
struct Leaf {
    x: u64,
}

#[derive(Trace)]
struct Holder {
    v: Vec<Slot<Leaf>>,
}

fn main() {
    let heap = Heap::new(Config::default()).unwrap();
    let mu = heap.mutator();
    let _ = mu.alloc(Holder { v: Vec::new() });
}
