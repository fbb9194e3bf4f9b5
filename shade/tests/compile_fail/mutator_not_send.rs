// A `Mutator` belongs to one thread.
use shade::{Config, Heap};

fn main() {
    let heap = Heap::new(Config::default()).unwrap();
    let mu = heap.mutator();
    std::thread::spawn(move || drop(mu));
}
