// alloc_local takes types that are not Send only when they have no
// destructor: a sweep could run the destructor on another thread.
use shade::{Config, Heap, Trace};
use std::marker::PhantomData;

#[derive(Trace)]
struct NotSendWithDrop {
    name: String,
    _not_send: PhantomData<*const ()>,
}

fn main() {
    let heap = Heap::new(Config::default()).unwrap();
    let mu = heap.mutator();
    let _ = mu.alloc_local(NotSendWithDrop { name: String::new(), _not_send: PhantomData });
}
