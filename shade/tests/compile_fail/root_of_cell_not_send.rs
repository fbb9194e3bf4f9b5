// A `Root<T>` crosses threads only if `T: Sync`: another thread would get
// a shared reference to the `Cell`.
use shade::{Config, Heap, Root};
use std::cell::Cell;

fn main() {
    let heap = Heap::new(Config::default()).unwrap();
    let mu = heap.mutator();
    let r: Root<Cell<u64>> = mu.root(mu.alloc(Cell::new(5u64)));
    std::thread::spawn(move || drop(r));
}
