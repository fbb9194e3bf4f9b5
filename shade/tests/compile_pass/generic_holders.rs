// The supported way to hold a growable set of pointers in a generic type
// compiles and runs: an `Array` of slots. (Having a pass case also makes
// trybuild build, not just check, the compile-fail cases, so that
// post-monomorphization errors are reported.)
use shade::{Array, Config, Heap, Slot, Trace};

#[derive(Trace)]
struct Leaf {
    x: u64,
}

#[derive(Trace)]
struct Holder<T> {
    items: Slot<Array<Slot<T>>>,
    boxed: Box<u64>,
    v: Vec<u64>,
}

fn main() {
    let heap = Heap::new(Config {
        read_env: false,
        reserve: 1 << 30,
        ..Config::default()
    })
    .unwrap();
    let mut mu = heap.mutator();
    let h = {
        let items = mu.alloc_array(3, |i| Slot::new(mu.alloc(Leaf { x: i as u64 })));
        mu.local(mu.alloc(Holder {
            items: Slot::new(items),
            boxed: Box::new(7),
            v: vec![1, 2],
        }))
    };
    mu.collect();
    let h = h.get(&mu);
    let items = h.items.get(&mu).unwrap();
    let sum: u64 = items.iter().map(|s| s.get(&mu).unwrap().x).sum();
    assert_eq!(sum + *h.boxed + h.v.len() as u64, 3 + 7 + 2);
}
