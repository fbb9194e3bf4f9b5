//! Panics in mutator code and in destructors leave the heap consistent:
//! other threads keep working, later collections succeed, rooted data is
//! intact and every destructor runs exactly once.

mod common;

use common::{expect_panic, mix, with_timeout, DropLog, DropToken, PanicOnDrop};
use shade::{Array, Gc, Mutator, Root, Slot, Trace};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::thread;

const TIMEOUT: u64 = 60;

#[derive(Trace)]
struct Chain {
    id: u64,
    check: u64,
    next: Slot<Chain>,
}

/// A chain of `n` nodes with ids `first..first + n` (head = `first`).
fn chain(mu: &Mutator, first: u64, n: u64) -> Gc<'_, Chain> {
    let mut head: Option<Gc<'_, Chain>> = None;
    for id in (first..first + n).rev() {
        head = Some(mu.alloc(Chain { id, check: mix(id), next: Slot::from_option(head) }));
    }
    head.expect("n > 0")
}

/// Checks a chain and returns its length.
fn check_chain(mu: &Mutator, head: Gc<'_, Chain>, first: u64) -> u64 {
    let mut cur = Some(head);
    let mut n = 0;
    while let Some(c) = cur {
        assert_eq!((c.id, c.check), (first + n, mix(first + n)), "corrupt chain node");
        n += 1;
        cur = c.next.get(mu);
    }
    n
}

#[test]
fn panic_in_a_mutator_thread_mid_build() {
    with_timeout(TIMEOUT, "thread-panic", || {
        let heap = common::small_heap(128 << 10);
        let board: Root<Array<Slot<Chain>>> = {
            let mu = heap.mutator();
            mu.root(mu.alloc_array(4, |_| Slot::null()))
        };
        let panicked = Arc::new(AtomicBool::new(false));

        // Two well-behaved threads that keep allocating, collecting and
        // checking their published chains until well after the panic.
        let good: Vec<_> = (1..3u64)
            .map(|t| {
                let (heap, board, panicked) = (heap.clone(), board.clone(), panicked.clone());
                thread::spawn(move || {
                    let mut mu = heap.mutator();
                    let mut after = 0;
                    let mut i = 0u64;
                    while after < 30 {
                        {
                            let b = board.get(&mu);
                            b[t as usize].set(&mu, chain(&mu, t * 1_000_000 + i, 20));
                            chain(&mu, 5, 50); // garbage
                        }
                        if i.is_multiple_of(3) {
                            mu.collect();
                        } else {
                            mu.safepoint();
                        }
                        let b = board.get(&mu);
                        let head = b[t as usize].get(&mu).unwrap();
                        assert_eq!(check_chain(&mu, head, t * 1_000_000 + i), 20);
                        if panicked.load(SeqCst) {
                            after += 1;
                        }
                        i += 1;
                    }
                    i - 1
                })
            })
            .collect();

        // A thread that publishes half a structure, then panics while
        // building the rest.
        let bad = {
            let (heap, board, panicked) = (heap.clone(), board.clone(), panicked.clone());
            thread::spawn(move || {
                let mut mu = heap.mutator();
                for _ in 0..5 {
                    chain(&mu, 0, 100);
                    mu.safepoint();
                }
                let b = board.get(&mu);
                let head = chain(&mu, 0, 50);
                b[0].set(&mu, head);
                // Building an unpublished continuation...
                let mut tail = head;
                while let Some(n) = tail.next.get(&mu) {
                    tail = n;
                }
                let more = chain(&mu, 50, 25);
                let _unfinished = (tail, more);
                panicked.store(true, SeqCst);
                panic!("mutator thread gave up halfway");
            })
        };
        let err = bad.join().expect_err("the bad thread panics");
        assert_eq!(common::panic_message(&*err), "mutator thread gave up halfway");
        let last: Vec<u64> = good.into_iter().map(|h| h.join().unwrap()).collect();

        let mut mu = heap.mutator();
        mu.collect();
        let b = board.get(&mu);
        assert_eq!(check_chain(&mu, b[0].get(&mu).unwrap(), 0), 50);
        for t in 1..3u64 {
            let head = b[t as usize].get(&mu).unwrap();
            assert_eq!(check_chain(&mu, head, t * 1_000_000 + last[t as usize - 1]), 20);
        }
        let s = heap.stats();
        assert_eq!(s.live_objects, 1 + 50 + 2 * 20, "the unpublished part was freed");
        assert_eq!(s.allocated_objects_total - s.freed_objects_total, s.live_objects as u64);
    });
}

#[test]
fn panic_inside_alloc_array_init() {
    let log = DropLog::new(1000);
    let heap = common::heap();
    let mut mu = heap.mutator();
    let kept = mu.local(chain(&mu, 0, 10));

    // Plain elements with destructors: the 50 built ones are dropped once
    // when the partial array is swept; the 51st was never made.
    let msg = expect_panic("array init", || {
        mu.alloc_array(100, |i| {
            if i == 50 {
                panic!("init failed at {i}");
            }
            DropToken::new(&log, i)
        })
    });
    assert_eq!(msg, "init failed at 50");
    assert_eq!(log.total(), 0, "built elements live in the (garbage) array");

    // Pointer elements: the partial array points at objects allocated in
    // the init closure; all of it is garbage.
    let msg = expect_panic("pointer array init", || {
        mu.alloc_array(64, |i| {
            if i == 40 {
                panic!("pointer init failed");
            }
            Slot::new(chain(&mu, 1000 + i as u64 * 10, 3))
        })
    });
    assert_eq!(msg, "pointer init failed");

    // A panic in a nested allocation inside init.
    let msg = expect_panic("nested init", || {
        mu.alloc_array(10, |i| {
            let inner = mu.alloc_array(10, |j| {
                if i == 5 && j == 5 {
                    panic!("nested init failed");
                }
                DropToken::new(&log, 100 + i * 10 + j)
            });
            Slot::new(inner)
        })
    });
    assert_eq!(msg, "nested init failed");

    mu.collect();
    log.assert_range(0..50, 1, "plain partial array");
    log.assert_range(50..100, 0, "never built");
    log.assert_range(100..155, 1, "nested partial arrays");
    log.assert_range(155..200, 0, "never built (nested)");
    let s = heap.stats();
    assert_eq!(s.live_objects, 10, "only the rooted chain survives");
    assert_eq!(check_chain(&mu, kept.get(&mu), 0), 10);

    // The heap is fully usable afterwards.
    let a = mu.local(mu.alloc_array(100, |i| DropToken::new(&log, 200 + i)));
    mu.collect();
    assert_eq!(a.get(&mu).iter().map(|t| t.id).sum::<usize>(), (200..300).sum());
    drop(a);
    mu.collect();
    log.assert_range(200..300, 1, "array after recovery");
    log.assert_no_double_drop();
}

#[test]
fn panic_while_parked_resumes_the_mutator() {
    with_timeout(TIMEOUT, "parked-panic", || {
        let heap = common::heap();
        let mut mu = heap.mutator();
        let kept = mu.local(chain(&mu, 0, 30));
        let msg = expect_panic("parked", || mu.parked(|| panic!("panic while parked")));
        assert_eq!(msg, "panic while parked");
        // The mutator runs again: this thread may not use Heap::collect...
        let h = heap.clone();
        let msg = expect_panic("Heap::collect on a running thread", || h.collect());
        assert!(msg.contains("use Mutator::collect"), "{msg}");
        // ...but everything else works, and other threads' collections
        // still stop it at its safepoints.
        mu.collect();
        assert_eq!(check_chain(&mu, kept.get(&mu), 0), 30);
        let done = Arc::new(AtomicBool::new(false));
        let (h, d) = (heap.clone(), done.clone());
        let other = thread::spawn(move || {
            for _ in 0..10 {
                h.collect();
            }
            d.store(true, SeqCst);
        });
        while !done.load(SeqCst) {
            chain(&mu, 500, 10);
            mu.safepoint();
        }
        other.join().unwrap();
        assert_eq!(check_chain(&mu, kept.get(&mu), 0), 30);
        assert!(heap.stats().cycles >= 11);
    });
}

#[test]
fn thread_dying_from_a_panic_while_parked_detaches() {
    with_timeout(TIMEOUT, "parked-panic-exit", || {
        let heap = common::heap();
        let stop = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicUsize::new(0));
        // Collections run continuously while the threads below die.
        let (h, st, c) = (heap.clone(), stop.clone(), count.clone());
        let collector = thread::spawn(move || {
            while !st.load(SeqCst) {
                h.collect();
                c.fetch_add(1, SeqCst);
            }
        });
        for i in 0..20u64 {
            let h = heap.clone();
            let r = thread::spawn(move || {
                let mut mu = h.mutator();
                let _kept = mu.local(chain(&mu, i * 100, 5));
                if i % 2 == 0 {
                    mu.parked(|| panic!("died parked"));
                } else {
                    chain(&mu, 0, 20);
                    panic!("died running");
                }
            })
            .join();
            assert!(r.is_err());
        }
        stop.store(true, SeqCst);
        collector.join().unwrap();
        assert!(count.load(SeqCst) > 0);
        // Every dead thread's mutator detached: this would hang otherwise.
        heap.collect();
        assert_eq!(heap.stats().live_objects, 0, "dead threads' locals are not roots");
    });
}

// ----- panicking destructors ------------------------------------------------

#[derive(Trace)]
struct Guarded {
    id: u64,
    token: DropToken,
}

#[test]
fn panicking_destructor_surfaces_from_collect() {
    let log = DropLog::new(100);
    let heap = common::heap();
    let mut mu = heap.mutator();
    let kept = mu.local(chain(&mu, 0, 40));
    let kept_tokens = mu.local(mu.alloc_array(10, |i| DropToken::new(&log, 90 + i)));
    for i in 0..20 {
        mu.alloc(Guarded { id: i, token: DropToken::new(&log, i as usize) });
        if i == 10 {
            mu.alloc(PanicOnDrop { msg: "boom from a destructor", token: DropToken::new(&log, 50) });
        }
    }
    let msg = expect_panic("collect with a panicking destructor", || mu.collect());
    assert_eq!(msg, "boom from a destructor");
    // The sweep finished despite the panic.
    log.assert_range(0..20, 1, "other garbage");
    assert_eq!(log.count(50), 1, "the panicking object's fields were dropped");
    let s = heap.stats();
    assert_eq!(s.cycles, 1);
    assert_eq!(s.live_objects, 40 + 1);
    assert_eq!(s.freed_objects_total, 21);

    // The heap stays usable: allocate, collect, verify; nothing is dropped
    // twice and the panic does not come back.
    for round in 0..3 {
        chain(&mu, 1000, 100);
        mu.collect();
        assert_eq!(check_chain(&mu, kept.get(&mu), 0), 40, "round {round}");
    }
    log.assert_no_double_drop();
    log.assert_range(90..100, 0, "rooted tokens");
    assert_eq!(kept_tokens.get(&mu)[3].id, 93);
    assert_eq!(heap.stats().live_objects, 41);
}

#[test]
fn panicking_destructor_surfaces_from_heap_collect() {
    let log = DropLog::new(10);
    let heap = common::heap();
    let kept = {
        let mu = heap.mutator();
        mu.alloc(PanicOnDrop { msg: "boom on the collector thread", token: DropToken::new(&log, 0) });
        mu.alloc(PanicOnDrop { msg: "second boom", token: DropToken::new(&log, 1) });
        mu.root(chain(&mu, 7, 7))
    };
    let msg = expect_panic("Heap::collect", || heap.collect());
    assert!(msg == "boom on the collector thread" || msg == "second boom", "unexpected panic: {msg}");
    assert_eq!((log.count(0), log.count(1)), (1, 1), "both destructors ran once");
    heap.collect();
    assert_eq!(log.total(), 2);
    let mu = heap.mutator();
    assert_eq!(check_chain(&mu, kept.get(&mu), 7), 7);
}

#[test]
fn panicking_destructor_in_a_paced_collection_surfaces_at_a_safepoint() {
    let log = DropLog::new(1);
    let heap = common::small_heap(64 << 10);
    let mut mu = heap.mutator();
    let kept = mu.local(chain(&mu, 0, 25));
    mu.alloc(PanicOnDrop { msg: "boom at a safepoint", token: DropToken::new(&log, 0) });
    let mut iterations = 0;
    let msg = expect_panic("safepoint", || loop {
        iterations += 1;
        assert!(iterations < 10_000, "no paced collection happened");
        chain(&mu, 100, 50);
        mu.safepoint();
    });
    assert_eq!(msg, "boom at a safepoint");
    assert_eq!(log.count(0), 1);
    for _ in 0..200 {
        chain(&mu, 100, 50);
        mu.safepoint();
    }
    mu.collect();
    assert_eq!(check_chain(&mu, kept.get(&mu), 0), 25);
    assert_eq!(heap.stats().live_objects, 25);
    assert_eq!(log.count(0), 1);
}

#[test]
fn panicking_destructor_when_the_heap_is_dropped() {
    let log = DropLog::new(200);
    let heap = common::heap();
    let mu = heap.mutator();
    for i in 0..100 {
        mu.alloc(Guarded { id: i, token: DropToken::new(&log, i as usize) });
        if i % 10 == 0 {
            mu.alloc(PanicOnDrop {
                msg: "boom while the heap is dropped",
                token: DropToken::new(&log, 100 + i as usize),
            });
        }
    }
    let _root = mu.root(mu.alloc(Guarded { id: 1000, token: DropToken::new(&log, 199) }));
    drop(mu);
    // Must neither panic out of drop nor abort; every destructor runs.
    drop(heap);
    log.assert_range(0..100, 1, "plain objects");
    for i in (0..100).step_by(10) {
        assert_eq!(log.count(100 + i), 1, "panicking object {i}");
    }
    assert_eq!(log.count(199), 1, "rooted object");
}
