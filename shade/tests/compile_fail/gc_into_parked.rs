// Code running while the mutator is parked cannot touch the heap.
use shade::{Config, Heap};

fn main() {
    let heap = Heap::new(Config::default()).unwrap();
    let mut mu = heap.mutator();
    let x = mu.alloc(5u64);
    let y = mu.parked(|| *x + 1);
    println!("{y}");
}
