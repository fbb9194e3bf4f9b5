// Heap types cannot borrow.
use shade::Trace;

#[derive(Trace)]
struct Borrowing<'a> {
    s: &'a str,
}

fn main() {}
