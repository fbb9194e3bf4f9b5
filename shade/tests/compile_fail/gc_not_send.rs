// A `Gc` never leaves its mutator's thread.
use shade::{Config, Heap};

fn main() {
    let heap = Heap::new(Config::default()).unwrap();
    let mu = heap.mutator();
    let x = mu.alloc(5u64);
    std::thread::scope(|s| {
        s.spawn(move || println!("{}", *x));
    });
}
