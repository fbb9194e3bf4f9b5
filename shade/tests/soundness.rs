//! Regression tests for the soundness findings (issue 8): each is a program
//! in safe code (plus `unsafe impl Trace` written to the trait's contract)
//! that reached undefined behaviour or a hang before the fix.
//!
//! The tests in this binary run one at a time (`serial`), so that while one
//! runs its heap is the only one in the process: several findings hid behind
//! the fast paths Shade takes while exactly one heap is alive, and a second
//! heap made by a concurrent test would switch those paths off.

mod common;

use common::{expect_panic, with_timeout, DropLog, DropToken};
use shade::{Config, Gc, Heap, Slot, Trace, Tracer};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// One test at a time in this binary (see the module comment).
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// The test types below hold heap handles and counters, never GC pointers,
/// and their destructors read no slot.
macro_rules! no_gc_pointers {
    ($($t:ty),*) => {$(
        // SAFETY: see the macro's comment: no GC pointers, no slot reads.
        unsafe impl Trace for $t {
            const NO_TRACE: bool = true;
            fn trace(&self, _: &mut Tracer<'_>) {}
        }
    )*};
}
no_gc_pointers!(CollectOnDrop, WorkOnDrop, LastHandle, LeakMutatorOnDrop);

fn heap() -> Heap {
    Heap::new(Config { min_heap: 64 << 20, ..common::config() }).expect("heap")
}

/// Finding 1. A `Slot` outside the heap (here in a `Vec`) used to accept
/// stores while one heap was alive. Its old value was then recorded by the
/// barrier even when it was the address of an object freed since; the
/// flush marked that free slot, sweeping turned the mark into an allocated
/// object, and the destructor ran a second time (40,637 drops for 40,000
/// objects). Now a store into a slot outside the heap panics, whether
/// marking is on or not, so the barrier only ever sees slots of live heap
/// objects.
#[test]
fn a_slot_outside_the_heap_cannot_be_written() {
    let _s = serial();
    let heap = heap();
    let mut mu = heap.mutator();
    const N: usize = 4;
    let log = DropLog::new(N + 3);
    let outside: Vec<Slot<DropToken>> = (0..N).map(|_| Slot::null()).collect();
    let msg = expect_panic("set on a slot in a Vec", || outside[0].set(&mu, mu.alloc(DropToken::new(&log, N + 1))));
    assert!(msg.contains("Slot::set on a slot") && msg.contains("outside the heap"), "{msg}");
    let on_stack: Slot<DropToken> = Slot::null();
    let msg = expect_panic("replace on a slot on the stack", || {
        on_stack.replace(&mu, mu.alloc(DropToken::new(&log, N + 2)));
    });
    assert!(msg.contains("Slot::set on a slot"), "{msg}");
    // Storing null is refused too: the barrier would record the old value.
    let msg = expect_panic("clearing a slot outside the heap", || outside[1].set(&mu, None));
    assert!(msg.contains("Slot::set on a slot"), "{msg}");
    mu.collect();
    drop(outside);
    log.assert_no_double_drop();
    assert_eq!((log.count(N + 1), log.count(N + 2)), (1, 1), "the rejected stores' values were dropped once");
}

/// The scenario of finding 1 with the stores inside the heap, where they
/// belong: targets die, a collection frees them, and the slots are
/// overwritten again and again, also while marking is on. Every object is
/// dropped exactly once.
#[test]
fn overwriting_heap_slots_while_marking_drops_each_object_once() {
    let _s = serial();
    let heap = Heap::new(Config { min_heap: 1 << 20, ..common::config() }).expect("heap");
    let mut mu = heap.mutator();
    const N: usize = 1000;
    let log = DropLog::new(N + 1);

    let holders = mu.local(mu.alloc_array(N, |_| Slot::<DropToken>::null()));
    {
        let h = holders.get(&mu);
        for (i, s) in h.iter().enumerate() {
            s.set(&mu, mu.alloc(DropToken::new(&log, i)));
        }
        h.fill(&mu, None);
    }
    mu.collect();
    log.assert_range(0..N, 1, "after the first collection");
    let survivor = mu.local(mu.alloc(DropToken::new(&log, N)));
    let cycles = heap.stats().cycles;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut rounds = 0;
    while rounds < 200 || (heap.stats().cycles < cycles + 3 && Instant::now() < deadline) {
        rounds += 1;
        let h = holders.get(&mu);
        h.fill(&mu, survivor.get(&mu));
        h[7].set(&mu, None);
        h.fill(&mu, None);
        let _ = mu.alloc_array(256 << 10, |_| 0u8); // churn: the pacer starts cycles
        mu.safepoint();
    }
    assert!(heap.stats().cycles >= cycles + 3, "cycles ran while the slots were overwritten");
    log.assert_no_double_drop();
    log.assert_range(0..N, 1, "at the end");
    assert_eq!(log.count(N), 0, "the survivor is alive");
}

/// A slot pointing at an object of type `AtomicU64`: with a `Gc<Victim>` to
/// memory that is really some other object, `evil.get()` would read and
/// write wherever that object's first word points.
#[derive(Trace)]
struct Victim {
    evil: Slot<AtomicU64>,
    pad: [u64; 5000],
}

/// A large object of the same page count as `Victim`.
#[derive(Trace)]
struct Impostor {
    words: [u64; 5001],
}

#[derive(Trace)]
struct Holder {
    v: Slot<Victim>,
}

fn slot_addr<T>(s: &Slot<T>) -> usize {
    let text = format!("{s:?}");
    let hex = text.trim_start_matches("Slot(0x").trim_end_matches(')');
    usize::from_str_radix(hex, 16).expect("Slot's Debug prints its pointer")
}

/// Finding 2. The `Slot::new` witness recorded only an address: a stale
/// `Slot<Victim>` kept across a collection that freed its target, with an
/// `Impostor` then allocated at the same address and `Slot::new(impostor)`
/// witnessing that address, was accepted by allocation, and the program
/// held a `Gc<Victim>` to an `Impostor`. Witnesses now record the type
/// too, so the stale slot has no witness.
#[test]
fn a_witness_proves_the_type_not_just_the_address() {
    let _s = serial();
    let heap = heap();
    let mut mu = heap.mutator();
    let victim = mu.alloc(Victim { evil: Slot::null(), pad: [7; 5000] });
    let stale: Slot<Victim> = Slot::new(victim);
    let freed_at = Gc::as_ptr(victim) as usize;
    mu.collect(); // `victim` is unreachable: freed, its pages back in the page heap
    let impostor = mu.alloc(Impostor { words: [0x4141_4141; 5001] });
    assert_eq!(
        Gc::as_ptr(impostor) as usize,
        freed_at,
        "the scenario needs the impostor at the freed victim's address (large objects reuse pages)"
    );
    assert_eq!(slot_addr(&stale), freed_at);
    let _witness = Slot::new(impostor);
    let msg = expect_panic("a stale Slot<Victim> moved into an object", || {
        mu.alloc(Holder { v: stale });
    });
    assert!(msg.contains("has no witness"), "{msg}");

    // A witness of the right type at the same address is accepted: the
    // object there is a live `Victim`.
    mu.collect();
    let v2 = mu.alloc(Victim { evil: Slot::null(), pad: [1; 5000] });
    let h = mu.alloc(Holder { v: Slot::new(v2) });
    assert_eq!(h.v.get(&mu).unwrap().pad[4999], 1);
}

/// A destructor that waits for a collection of its own heap.
struct CollectOnDrop(Heap);

impl Drop for CollectOnDrop {
    fn drop(&mut self) {
        self.0.collect();
    }
}

/// Finding 3. `Heap::collect()` from a destructor run by the background
/// sweeper waited for a cycle that the sweeping thread itself had to run:
/// it never returned, and every later collection hung. Now it panics with a
/// message that names the misuse; the panic surfaces, like any destructor
/// panic, at the next `collect`, and the heap keeps working.
#[test]
fn collect_from_a_destructor_panics_instead_of_hanging() {
    let _s = serial();
    with_timeout(120, "collect from a destructor", || {
        let heap = heap();
        let mut mu = heap.mutator();
        let _ = mu.alloc(CollectOnDrop(heap.clone()));
        let msg = expect_panic("collect after the destructor ran", || mu.collect());
        assert!(msg.contains("collect() called from a destructor"), "{msg}");
        mu.collect();
        mu.collect();
        assert!(heap.stats().cycles >= 3);
    });
}

/// A destructor that attaches a mutator, allocates and stores, and drops
/// the mutator: allowed, on whatever thread sweeps.
struct WorkOnDrop {
    heap: Heap,
    ran: Arc<AtomicUsize>,
}

impl Drop for WorkOnDrop {
    fn drop(&mut self) {
        let mu = self.heap.mutator();
        let a = mu.alloc_array(4, |_| Slot::<u64>::null());
        a[0].set(&mu, mu.alloc(5u64));
        assert_eq!(*a[0].get(&mu).unwrap(), 5);
        self.ran.fetch_add(1, SeqCst);
    }
}

#[test]
fn a_destructor_may_attach_allocate_and_store() {
    let _s = serial();
    with_timeout(120, "destructor that allocates", || {
        let heap = heap();
        let ran = Arc::new(AtomicUsize::new(0));
        let mut mu = heap.mutator();
        for _ in 0..3 {
            let _ = mu.alloc(WorkOnDrop { heap: heap.clone(), ran: ran.clone() });
        }
        mu.collect();
        mu.collect();
        assert_eq!(ran.load(SeqCst), 3);
    });
}

/// Holds a heap's last handle, so that sweeping this object drops the heap.
struct LastHandle {
    _heap: Heap,
}

/// Relative found in review: when the last heap handle was dropped by a
/// destructor the coordinator ran, the heap's shutdown joined the
/// coordinator thread from itself ("Resource deadlock avoided"), and the
/// panic was caught and lost. Now the coordinator is told to stop, finishes
/// the cycle, and drops the heap itself: every object's destructor runs,
/// and nothing panics on the collector's thread.
#[test]
fn the_last_handle_dropped_by_a_destructor_shuts_the_heap_down_cleanly() {
    let _s = serial();
    let panics_on_collector = Arc::new(AtomicUsize::new(0));
    let previous = std::panic::take_hook();
    {
        let seen = panics_on_collector.clone();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current().name() == Some("shade-gc") {
                seen.fetch_add(1, SeqCst);
            }
            eprintln!("{info}");
        }));
    }
    let log = DropLog::new(1);
    {
        let heap = Heap::new(Config { min_heap: 256 << 10, ..common::config() }).expect("heap");
        let mu = heap.mutator();
        let _kept = mu.root(mu.alloc(DropToken::new(&log, 0)));
        let _ = mu.alloc(LastHandle { _heap: heap });
        // A large allocation asks the pacer for a cycle; it runs once this
        // mutator is gone, and sweeps the object holding the last handle.
        let _ = mu.alloc_array(1 << 20, |_| 0u8);
        drop(mu);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while log.total() == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::panic::set_hook(previous);
    assert_eq!(log.total(), 1, "the heap was dropped (its remaining objects' destructors ran)");
    assert_eq!(panics_on_collector.load(SeqCst), 0, "nothing panicked on the collector's thread");
}

/// A destructor that leaves a mutator running on the sweeping thread.
struct LeakMutatorOnDrop(Heap);

impl Drop for LeakMutatorOnDrop {
    fn drop(&mut self) {
        std::mem::forget(self.0.mutator());
    }
}

/// Run in a child process by `a_mutator_left_running_by_a_destructor_aborts`.
#[test]
#[ignore = "aborts the process: run by a_mutator_left_running_by_a_destructor_aborts in a child"]
fn child_leaks_a_mutator_from_a_destructor() {
    let heap = heap();
    let mut mu = heap.mutator();
    let _ = mu.alloc(LeakMutatorOnDrop(heap.clone()));
    mu.collect(); // the coordinator sweeps the object: it must abort here
    mu.collect(); // before the fix: the next stop waits forever
    println!("child: still running");
}

/// A destructor run by the coordinator that leaves a mutator of the heap
/// running on the coordinator's thread would make the next stop wait
/// forever for a thread that is the collector itself. Unwinding cannot undo
/// it (the mutator is owned by user code), so Shade aborts with a message
/// naming the misuse rather than hang.
#[test]
fn a_mutator_left_running_by_a_destructor_aborts() {
    let _s = serial();
    let exe = std::env::current_exe().expect("test binary");
    let mut child = std::process::Command::new(exe)
        .args(["--exact", "child_leaks_a_mutator_from_a_destructor", "--ignored", "--nocapture"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn the child test");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the child hung instead of aborting");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let out = child.wait_with_output().expect("output");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!status.success(), "the child must not succeed: {stdout}");
    assert!(!stdout.contains("child: still running"), "{stdout}");
    assert!(stderr.contains("left a Mutator of the heap being swept running"), "stderr: {stderr}");
}
