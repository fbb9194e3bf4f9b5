//! Misuse of the API is reported: allocation errors as values, invalid
//! configurations as `HeapError`, and pointer or handle misuse as panics
//! with a clear message (checked against the real messages).

mod common;

use common::{expect_panic, mix, DropLog, DropToken};
use shade::{AllocError, Array, Config, Heap, HeapError, Slot, Trace};

#[derive(Trace)]
struct Node {
    id: u64,
    next: Slot<Node>,
}

#[derive(Trace)]
struct Blob {
    id: u64,
    check: u64,
    bytes: [u64; 30], // 256-byte objects
}

fn limited_heap(limit: usize) -> Heap {
    Heap::new(Config { heap_limit: Some(limit), ..common::config() }).expect("heap")
}

// ----- heap limit -----------------------------------------------------------

/// Allocates rooted blobs until `try_alloc` fails; returns how many fit and
/// the error.
fn fill(mu: &shade::Mutator, keep: &mut Vec<shade::Local<Blob>>, first: u64) -> AllocError {
    for id in first.. {
        match mu.try_alloc(Blob { id, check: mix(id), bytes: [id; 30] }) {
            Ok(b) => keep.push(mu.local(b)),
            Err(e) => return e,
        }
        assert!(id - first < 1 << 20, "heap limit never reached");
    }
    unreachable!()
}

#[test]
fn try_alloc_hits_the_heap_limit_and_recovers_after_collection() {
    const LIMIT: usize = 1 << 20;
    let heap = limited_heap(LIMIT);
    let mut mu = heap.mutator();
    let mut keep = Vec::new();
    let err = fill(&mu, &mut keep, 0);
    let first_round = keep.len();
    match &err {
        AllocError::HeapLimit { requested, limit } => {
            assert_eq!(*limit, LIMIT);
            assert!(*requested > 0);
        }
        e => panic!("expected HeapLimit, got {e:?}"),
    }
    assert!(err.to_string().contains("heap limit of 1048576 bytes"), "{err}");
    assert!(first_round * 256 > LIMIT / 2, "only {first_round} blobs fit under the limit");
    assert!(heap.stats().heap_in_use <= LIMIT);
    // Still failing until something is freed: no collection ran.
    assert!(mu.try_alloc(Blob { id: 0, check: 0, bytes: [0; 30] }).is_err());
    assert!(mu.try_alloc_array(100_000, |i| i as u8).is_err(), "large objects too");

    // Unroot all but the first 10 blobs: their spans empty out and go back
    // to the page heap.
    keep.truncate(10);
    mu.collect();
    let ok = mu.try_alloc(Blob { id: 7, check: mix(7), bytes: [7; 30] });
    assert!(ok.is_ok(), "allocation succeeds again after collection: {:?}", ok.err());
    for (i, b) in keep.iter().enumerate() {
        let b = b.get(&mu);
        assert_eq!((b.id, b.check, b.bytes[29]), (i as u64, mix(i as u64), i as u64));
    }
    // The freed memory is reusable: about as many blobs fit again.
    let err = fill(&mu, &mut keep, 1_000_000);
    assert!(matches!(err, AllocError::HeapLimit { .. }));
    let second_round = keep.len();
    assert!(
        second_round * 10 >= first_round * 9,
        "memory leaked: {first_round} fit at first, {second_round} after collecting"
    );
}

#[test]
fn large_allocations_respect_the_limit() {
    let heap = limited_heap(1 << 20);
    let mut mu = heap.mutator();
    let a = mu.try_alloc_array(600 << 10, |i| i as u8).expect("600 KiB fits");
    let a = mu.local(a);
    let err = mu.try_alloc_array(600 << 10, |i| i as u8).expect_err("a second one does not");
    assert!(matches!(err, AllocError::HeapLimit { limit, .. } if limit == 1 << 20), "{err:?}");
    drop(a);
    mu.collect();
    let b = mu.try_alloc_array(600 << 10, |i| (i * 3) as u8).expect("fits after collection");
    assert_eq!(b[1000], (3000 % 256) as u8);
}

#[test]
#[should_panic(expected = "heap limit of 262144 bytes reached")]
fn alloc_panics_at_the_heap_limit() {
    let heap = limited_heap(256 << 10);
    let mu = heap.mutator();
    let _big = mu.alloc_array(300 << 10, |_| 0u8);
}

#[test]
fn impossible_sizes_are_too_large() {
    let heap = common::heap();
    let mu = heap.mutator();
    let e = mu.try_alloc_array(usize::MAX / 4, |_| 0u64).expect_err("overflowing size");
    assert_eq!(e, AllocError::ArrayTooLarge { len: usize::MAX / 4, elem_size: 8 });
    assert!(e.to_string().contains("length × size overflows"), "{e}");
    assert!(!e.to_string().contains("18446744073709551615"), "the size is not reported as usize::MAX: {e}");
    let e = mu.try_alloc_array(usize::MAX / 2, |_| 0u8).expect_err("half the address space");
    assert!(matches!(e, AllocError::TooLarge { .. }), "{e:?}");
    assert!(e.to_string().contains("too large"), "{e}");
    // A failed attempt leaves the mutator usable.
    assert_eq!(mu.alloc_str("still fine").as_str(), "still fine");
}

#[test]
fn exhausting_the_reservation_is_out_of_memory() {
    let heap = Heap::new(Config { reserve: 16 << 20, ..common::config() }).unwrap();
    let mut mu = heap.mutator();
    let mut calls = 0;
    let e = mu
        .try_alloc_array(32 << 20, |_| {
            calls += 1;
            0u8
        })
        .expect_err("larger than the reservation");
    assert!(matches!(e, AllocError::OutOfMemory { .. }), "{e:?}");
    assert_eq!(calls, 0, "init must not run for a failed allocation");
    // Fill the arena with 1 MiB arrays, then free them and fill it again.
    let mut keep = Vec::new();
    let e = loop {
        match mu.try_alloc_array(1 << 20, |i| i as u8) {
            Ok(a) => keep.push(mu.local(a)),
            Err(e) => break e,
        }
        assert!(keep.len() <= 16, "more than the reservation fits");
    };
    assert!(matches!(e, AllocError::OutOfMemory { .. }), "{e:?}");
    let first = keep.len();
    assert!(first >= 14, "only {first} MiB of 16 usable");
    keep.clear();
    mu.collect();
    let again = (0..first)
        .map(|_| mu.try_alloc_array(1 << 20, |i| i as u8).map(|a| mu.local(a)))
        .collect::<Result<Vec<_>, _>>();
    assert!(again.is_ok(), "freed arena space is reusable: {:?}", again.err());
}

#[test]
fn rejected_value_is_dropped_once() {
    let log = DropLog::new(1);
    let heap = limited_heap(64 << 10);
    let mu = heap.mutator();
    let r = mu.try_alloc((DropToken::new(&log, 0), [0u64; 10_000]));
    assert!(matches!(r, Err(AllocError::HeapLimit { .. })));
    assert_eq!(log.count(0), 1);
}

// ----- configuration --------------------------------------------------------

#[test]
fn bad_debug_strings_are_rejected() {
    let mut c = common::config();
    let e = c.apply_debug("gctrace=1,bogus=1").expect_err("unknown key");
    assert!(matches!(&e, HeapError::Config(_)), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("unknown key \"bogus\""), "{msg}");
    assert!(msg.contains("gctrace") && msg.contains("clobberfree"), "lists the known keys: {msg}");
    let e = c.apply_debug("gctrace=yes").expect_err("bad value");
    assert!(e.to_string().contains("expected 0 or 1"), "{e}");
    let e = c.apply_debug("clobberfree=2").expect_err("bad value");
    assert!(e.to_string().contains("clobberfree=2"), "{e}");
    // Valid strings do apply.
    let mut c = common::config();
    c.apply_debug(" gctrace , clobberfree=off ,").unwrap();
    assert!(c.gctrace && !c.clobber_free);
    c.apply_debug("gctrace=0,clobberfree=on").unwrap();
    assert!(!c.gctrace && c.clobber_free);
}

#[test]
fn invalid_configurations_fail_heap_creation() {
    let e = Heap::new(Config { gc_percent: 0, ..common::config() }).expect_err("gc_percent 0");
    assert!(e.to_string().contains("gc_percent"), "{e}");
    let e = Heap::new(Config { heap_limit: Some(100), ..common::config() }).expect_err("tiny heap limit");
    assert!(matches!(&e, HeapError::Config(m) if m.contains("below one page")), "{e:?}");
}

#[test]
fn bad_environment_fails_heap_creation() {
    // Only this test reads the environment (every other heap in this
    // binary has `read_env: false`), so setting the variable is safe here.
    std::env::set_var("SHADE_DEBUG", "gctrace=1,nosuchkey");
    let r = Heap::new(Config { read_env: true, ..common::config() });
    std::env::remove_var("SHADE_DEBUG");
    let e = r.expect_err("bad SHADE_DEBUG");
    assert!(e.to_string().contains("nosuchkey"), "{e}");

    std::env::set_var("SHADE_GOGC", "lots");
    let r = Heap::new(Config { read_env: true, ..common::config() });
    std::env::remove_var("SHADE_GOGC");
    let e = r.expect_err("bad SHADE_GOGC");
    assert!(e.to_string().contains("SHADE_GOGC=lots"), "{e}");
}

// ----- slots and pointers ---------------------------------------------------

#[test]
#[should_panic(expected = "is not inside an object of this mutator's heap")]
fn non_null_slot_outside_the_heap_panics_on_get() {
    let heap = common::heap();
    let mu = heap.mutator();
    let x = mu.alloc(Node { id: 1, next: Slot::null() });
    let on_stack = Slot::new(x);
    let _ = on_stack.get(&mu);
}

#[test]
fn null_slot_outside_the_heap_reads_as_none() {
    let heap = common::heap();
    let mu = heap.mutator();
    let s: Slot<Node> = Slot::null();
    assert!(s.get(&mu).is_none() && s.is_null());
    let boxed: Box<Slot<Node>> = Box::default();
    assert!(boxed.get(&mu).is_none());
}

#[test]
#[should_panic(expected = "invalid pointer store")]
fn storing_into_a_slot_outside_the_heap_panics() {
    let heap = common::heap();
    let mu = heap.mutator();
    let x = mu.alloc(Node { id: 1, next: Slot::null() });
    let on_stack: Slot<Node> = Slot::null();
    on_stack.set(&mu, x);
}

#[test]
fn storing_a_pointer_from_another_heap_panics() {
    let (a, b) = (common::heap(), common::heap());
    let (mu_a, mu_b) = (a.mutator(), b.mutator());
    let in_a = mu_a.alloc(Node { id: 1, next: Slot::null() });
    let in_b = mu_b.alloc(Node { id: 2, next: Slot::null() });
    let msg = expect_panic("store foreign pointer", || in_a.next.set(&mu_a, in_b));
    assert!(msg.contains("invalid pointer store"), "{msg}");
    // Through the other heap's mutator, the slot is the foreign part.
    let msg = expect_panic("store through foreign mutator", || in_a.next.set(&mu_b, in_b));
    assert!(msg.contains("invalid pointer store"), "{msg}");
    assert!(in_a.next.is_null(), "the failed stores changed nothing");
    // Reading a slot of heap A with heap B's mutator.
    in_a.next.set(&mu_a, in_a);
    let msg = expect_panic("read through foreign mutator", || in_a.next.get(&mu_b).map(|n| n.id));
    assert!(msg.contains("is not inside an object of this mutator's heap"), "{msg}");
    // Arrays check their slots the same way.
    let arr = mu_a.alloc_array(3, |_| Slot::<Node>::null());
    let msg = expect_panic("array store", || arr[1].set(&mu_a, in_b));
    assert!(msg.contains("invalid pointer store"), "{msg}");
}

#[test]
fn allocating_a_value_holding_a_foreign_pointer_panics() {
    let log = DropLog::new(1);
    let (a, b) = (common::heap(), common::heap());
    let (mu_a, mu_b) = (a.mutator(), b.mutator());
    let in_b = mu_b.alloc(Node { id: 2, next: Slot::null() });

    #[derive(Trace)]
    struct WithToken {
        token: DropToken,
        p: Slot<Node>,
    }
    let msg = expect_panic("alloc", || mu_a.alloc(WithToken { token: DropToken::new(&log, 0), p: Slot::new(in_b) }));
    assert!(msg.contains("which is not into this mutator's heap"), "{msg}");
    assert_eq!(log.count(0), 1, "the rejected value was dropped");
    let msg =
        expect_panic("alloc_array", || mu_a.alloc_array(4, |i| if i == 2 { Slot::new(in_b) } else { Slot::null() }));
    assert!(msg.contains("which is not into this mutator's heap"), "{msg}");
    let msg = expect_panic("try_alloc", || mu_a.try_alloc(Node { id: 3, next: Slot::new(in_b) }).is_ok());
    assert!(msg.contains("which is not into this mutator's heap"), "{msg}");
}

// ----- roots, locals and mutators -------------------------------------------

#[test]
#[should_panic(expected = "Root used with a mutator of another heap")]
fn root_used_with_another_heaps_mutator_panics() {
    let (a, b) = (common::heap(), common::heap());
    let (mu_a, mu_b) = (a.mutator(), b.mutator());
    let r = mu_a.root(mu_a.alloc(5u64));
    let _ = r.get(&mu_b);
}

#[test]
#[should_panic(expected = "Local used with a different mutator")]
fn local_used_with_another_heaps_mutator_panics() {
    let (a, b) = (common::heap(), common::heap());
    let (mu_a, mu_b) = (a.mutator(), b.mutator());
    let l = mu_a.local(mu_a.alloc(5u64));
    let _ = l.get(&mu_b);
}

#[test]
#[should_panic(expected = "Local used with a different mutator")]
fn local_used_with_a_later_mutator_of_the_same_heap_panics() {
    let heap = common::heap();
    let mu = heap.mutator();
    let l = mu.local(mu.alloc(5u64));
    let parked = mu.park();
    let mu2 = heap.mutator(); // allowed: the first one is parked
    let _keep = parked;
    let _ = l.get(&mu2);
}

#[test]
fn root_and_local_of_a_foreign_object_panic() {
    let (a, b) = (common::heap(), common::heap());
    let (mu_a, mu_b) = (a.mutator(), b.mutator());
    let in_b = mu_b.alloc(1u64);
    let msg = expect_panic("Root::new", || mu_a.root(in_b));
    assert!(msg.contains("Root::new: object is not in this mutator's heap"), "{msg}");
    let msg = expect_panic("Local::new", || mu_a.local(in_b));
    assert!(msg.contains("Local: object is not in this mutator's heap"), "{msg}");
}

#[test]
#[should_panic(expected = "already has a running Mutator of this heap")]
fn two_running_mutators_on_one_thread_panic() {
    let heap = common::heap();
    let _a = heap.mutator();
    let _b = heap.mutator();
}

#[test]
fn mutators_of_different_heaps_on_one_thread_are_fine() {
    let (a, b) = (common::heap(), common::heap());
    let (mut mu_a, mut mu_b) = (a.mutator(), b.mutator());
    let la = mu_a.local(mu_a.alloc_str("a"));
    let lb = mu_b.local(mu_b.alloc_str("b"));
    mu_a.collect();
    mu_b.collect();
    assert_eq!((la.get(&mu_a).as_str(), lb.get(&mu_b).as_str()), ("a", "b"));
    assert_eq!((a.stats().cycles, b.stats().cycles), (1, 1));
}

#[test]
#[should_panic(expected = "use Mutator::collect")]
fn heap_collect_on_a_thread_with_a_running_mutator_panics() {
    let heap = common::heap();
    let _mu = heap.mutator();
    heap.collect();
}

#[test]
#[should_panic(expected = "already has a running Mutator of this heap")]
fn unpark_on_a_thread_with_a_running_mutator_panics() {
    let heap = common::heap();
    let parked = heap.mutator().park();
    let _running = heap.mutator();
    let _ = parked.unpark();
}

#[test]
fn a_mutator_can_be_recreated_after_drop_and_park() {
    let heap = common::heap();
    let r = {
        let mu = heap.mutator();
        mu.root(mu.alloc(41u64))
    };
    let mu = heap.mutator();
    let parked = mu.park();
    let mut mu = heap.mutator();
    assert_eq!(*r.get(&mu), 41);
    mu.collect();
    drop(mu);
    let mut mu = parked.unpark();
    mu.collect();
    assert_eq!(*r.get(&mu), 41);
    assert_eq!(heap.stats().cycles, 2);
}

#[test]
#[should_panic(expected = "not UTF-8")]
fn as_str_on_non_utf8_bytes_panics() {
    let heap = common::heap();
    let mu = heap.mutator();
    let a: shade::Gc<'_, Array<u8>> = mu.alloc_array_copy(&[0xff, 0xfe]);
    let _ = a.as_str();
}

#[derive(Trace)]
struct Leaf {
    id: u64,
    check: u64,
}

#[derive(Trace)]
struct Holder {
    s: Slot<Leaf>,
}

#[test]
fn slot_made_before_a_collection_cannot_smuggle_a_freed_pointer_into_the_heap() {
    let heap = common::heap();
    let mut mu = heap.mutator();
    // Keeps the span alive, so the freed slot is reused below.
    let _neighbour = mu.local(mu.alloc(Leaf { id: 0, check: mix(0) }));
    let dangling = {
        let x = mu.alloc(Leaf { id: 1, check: mix(1) });
        Slot::new(x) // a Slot<Leaf> that does not borrow `mu`
    };
    mu.collect(); // `x` was unreachable: freed and poisoned
                  // Another object of the same size class takes the freed slot.
    let _other = mu.local(mu.alloc((0xdead_u64, 0xbeef_u64)));
    // Safe code now stores the stale pointer into the heap and reads it.
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let h = mu.alloc(Holder { s: dangling });
        h.s.get(&mu).map(|l| (l.id, l.check))
    }));
    // Acceptable: rejecting the stale slot (a panic). Not acceptable: the
    // Slot<Leaf> reading the (u64, u64) that now lives there.
    if let Ok(got) = r {
        assert_eq!(got, Some((1, mix(1))), "a Slot<Leaf> made before the collection now reads another object");
    }
}

#[test]
fn heap_limit_failure_recovers_after_collect() {
    // 2 MiB limit, default 4 MiB minimum heap: 20 MiB of garbage in 1 KiB
    // pieces, almost nothing live. The pacer keeps its goal under the limit,
    // so cycles run; on HeapLimit, do what the docs say: collect, retry.
    let heap = limited_heap(2 << 20);
    let mut mu = heap.mutator();
    let kept = mu.local(mu.alloc_str("live"));
    for i in 0..20_000u64 {
        if mu.try_alloc_array(128, |j| i ^ j as u64).is_err() {
            mu.collect();
            let r = mu.try_alloc_array(128, |j| i ^ j as u64).map(|a| a[5]);
            assert_eq!(
                r,
                Ok(i ^ 5),
                "allocation {i} still fails after a collection ({} cycles run)",
                heap.stats().cycles
            );
        }
        mu.safepoint();
    }
    assert_eq!(kept.get(&mu).as_str(), "live");
}

/// A VM's native-function table: `fn` pointers are plain data in objects.
#[derive(Trace)]
struct Native {
    name: Slot<Array<u8>>,
    call: fn(i64, i64) -> i64,
    arity: fn() -> usize,
}

#[test]
fn function_pointers_are_trace() {
    let heap = common::heap();
    let mut mu = heap.mutator();
    let add: fn(i64, i64) -> i64 = |a, b| a + b;
    let two: fn() -> usize = || 2;
    let n = mu.local(mu.alloc(Native { name: Slot::new(mu.alloc_str("add")), call: add, arity: two }));
    mu.collect();
    let n = n.get(&mu);
    assert_eq!(((n.call)(2, 3), (n.arity)(), n.name.get(&mu).unwrap().as_str()), (5, 2, "add"));
    const { assert!(<fn(u8) -> u8 as Trace>::NO_TRACE) };
}

/// `safepoint_requested` is false while nothing is pending, turns true
/// when the pacer asks for a cycle, and a safepoint then lets the cycle run.
#[test]
fn safepoint_requested_polls_for_pending_collections() {
    let heap = common::small_heap(1 << 20);
    let mut mu = heap.mutator();
    assert!(!mu.safepoint_requested(), "a fresh heap wants nothing");
    // Allocate past the trigger, then give the collector thread (which
    // raises the flag when it starts the stop) time to run.
    let mut allocated = 0usize;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !mu.safepoint_requested() {
        if allocated < 8 << 20 {
            let _ = mu.alloc_array(1024, |_| 0u8);
            allocated += 1024;
        } else {
            assert!(std::time::Instant::now() < deadline, "the pacer never asked for a cycle");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
    let before = heap.stats().cycles;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while heap.stats().cycles == before {
        assert!(std::time::Instant::now() < deadline, "the cycle did not run at safepoints");
        if mu.safepoint_requested() {
            mu.safepoint();
        } else {
            std::thread::yield_now();
        }
    }
}
