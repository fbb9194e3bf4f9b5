// Heap objects are 8-byte aligned: a type needing more cannot be
// allocated (checked when `alloc` is instantiated).
use shade::{Config, Heap, Trace};

#[derive(Trace)]
#[repr(align(16))]
struct Wide {
    x: u64,
}

fn main() {
    let heap = Heap::new(Config::default()).unwrap();
    let mu = heap.mutator();
    let _ = mu.alloc(Wide { x: 1 });
}
