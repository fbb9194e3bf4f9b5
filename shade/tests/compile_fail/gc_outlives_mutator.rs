// A `Gc` cannot outlive its mutator.
use shade::{Config, Gc, Heap};

fn main() {
    let heap = Heap::new(Config::default()).unwrap();
    let escaped: Gc<'_, u64> = {
        let mu = heap.mutator();
        mu.alloc(5u64)
    };
    println!("{}", *escaped);
}
