// The same for a `Box` of a slot inside a generic type: the check happens
// when `alloc` is instantiated (post-monomorphization).
use shade::{Config, Heap, Slot, Trace};

#[derive(Trace)]
struct Leaf {
    x: u64,
}

#[derive(Trace)]
struct Holder<T> {
    b: Box<Slot<T>>,
}

fn main() {
    let heap = Heap::new(Config::default()).unwrap();
    let mu = heap.mutator();
    let leaf = mu.alloc(Leaf { x: 1 });
    let _ = mu.alloc(Holder {
        b: Box::new(Slot::new(leaf)),
    });
}
