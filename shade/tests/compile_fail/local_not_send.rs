// A `Local` is owned by its mutator and stays on its thread.
use shade::{Config, Heap};

fn main() {
    let heap = Heap::new(Config::default()).unwrap();
    let mu = heap.mutator();
    let l = mu.local(mu.alloc(5u64));
    std::thread::spawn(move || drop(l));
}
