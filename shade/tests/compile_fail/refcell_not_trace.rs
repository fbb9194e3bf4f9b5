// `RefCell` has no `Trace` impl at all.
use shade::{Slot, Trace};
use std::cell::RefCell;

#[derive(Trace)]
struct Holder {
    r: RefCell<Slot<u64>>,
}

fn main() {}
