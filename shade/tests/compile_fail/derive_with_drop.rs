// A derived heap type may not implement Drop: its destructor could read
// slots whose targets were already freed.
use shade::{Slot, Trace};

#[derive(Trace)]
struct Node {
    next: Slot<Node>,
}

impl Drop for Node {
    fn drop(&mut self) {}
}

fn main() {}
