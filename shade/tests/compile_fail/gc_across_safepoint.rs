// A `Gc` borrows the mutator: it cannot be used after a safepoint, where a
// collection may free its object.
use shade::{Config, Heap};

fn main() {
    let heap = Heap::new(Config::default()).unwrap();
    let mut mu = heap.mutator();
    let x = mu.alloc(5u64);
    mu.safepoint();
    println!("{}", *x);
}
