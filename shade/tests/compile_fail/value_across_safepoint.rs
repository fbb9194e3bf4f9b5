// A `Value` holding an object borrows the mutator like a `Gc`: it cannot be
// used after a safepoint, where the object may have been freed.
use shade::{Config, Heap, Value};

fn main() {
    let heap = Heap::new(Config::default()).unwrap();
    let mut mu = heap.mutator();
    let v = Value::object(mu.alloc(1u64));
    mu.safepoint();
    println!("{:?}", v.as_object());
}
