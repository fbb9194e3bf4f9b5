//! Several mutator threads sharing one heap: objects made on one thread and
//! read or mutated on others through `Root`s, collections started from
//! different threads (with and without a mutator), parked mutators, threads
//! that exit while holding a mutator, and roots dropped on other threads.
//!
//! Every test runs under a timeout, so a deadlock in the stop-the-world
//! handshake fails the test instead of hanging the run.

mod common;

use common::{mix, with_timeout, DropLog, DropToken, Rng};
use shade::{Array, Gc, Heap, Mutator, Root, Slot, Trace};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

const TIMEOUT: u64 = 60;

#[derive(Trace)]
struct Entry {
    thread: u64,
    seq: u64,
    data: Slot<Array<u64>>,
}

fn entry_data(thread: u64, seq: u64, i: usize) -> u64 {
    mix((thread << 40) ^ (seq << 8) ^ i as u64)
}

fn new_entry(mu: &Mutator, thread: u64, seq: u64) -> Gc<'_, Entry> {
    let data = mu.alloc_array(16, |i| entry_data(thread, seq, i));
    mu.alloc(Entry { thread, seq, data: Slot::new(data) })
}

/// Checks an entry's contents against its (thread, seq).
fn check_entry(mu: &Mutator, e: Gc<'_, Entry>) {
    let d = e.data.get(mu).expect("entry data");
    assert_eq!(d.len(), 16);
    for (i, &x) in d.iter().enumerate() {
        assert_eq!(x, entry_data(e.thread, e.seq, i), "entry ({}, {}) corrupt at {i}", e.thread, e.seq);
    }
}

#[derive(Trace)]
struct Leaf {
    id: u64,
    check: u64,
}

/// A list of leaves held in an array; `n + 1` objects.
fn leaf_array(mu: &Mutator, first: u64, n: usize) -> Gc<'_, Array<Slot<Leaf>>> {
    mu.alloc_array(n, |i| {
        let id = first + i as u64;
        Slot::new(mu.alloc(Leaf { id, check: mix(id) }))
    })
}

fn check_leaf_array(mu: &Mutator, a: Gc<'_, Array<Slot<Leaf>>>, first: u64, n: usize) {
    assert_eq!(a.len(), n);
    for (i, s) in a.iter().enumerate() {
        let l = s.get(mu).expect("leaf");
        assert_eq!((l.id, l.check), (first + i as u64, mix(first + i as u64)));
    }
}

#[test]
fn threads_share_and_mutate_a_rooted_board() {
    with_timeout(TIMEOUT, "board", || {
        const THREADS: u64 = 3;
        const PER: usize = 8; // slots owned by each thread
        let iters = 1000;
        let heap = common::small_heap(64 << 10);
        let board: Root<Array<Slot<Entry>>> = {
            let mu = heap.mutator();
            mu.root(mu.alloc_array(THREADS as usize * PER, |_| Slot::null()))
        };
        let explicit = Arc::new(AtomicUsize::new(0));

        // A thread without a mutator that collects now and then.
        let collector = {
            let heap = heap.clone();
            let explicit = explicit.clone();
            thread::spawn(move || {
                for _ in 0..10 {
                    heap.collect();
                    explicit.fetch_add(1, SeqCst);
                    thread::sleep(Duration::from_millis(2));
                }
            })
        };

        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let heap = heap.clone();
                let board = board.clone();
                let explicit = explicit.clone();
                thread::spawn(move || {
                    let mut mu = heap.mutator();
                    let mut rng = Rng::new(100 + t);
                    let mut last = vec![None; PER];
                    for i in 0..iters {
                        {
                            let b = board.get(&mu);
                            // Publish a new entry in one of our slots.
                            let k = rng.below(PER);
                            b[t as usize * PER + k].set(&mu, new_entry(&mu, t, i as u64));
                            last[k] = Some(i as u64);
                            // Read and check a few slots of any thread.
                            for _ in 0..4 {
                                if let Some(e) = b[rng.below(b.len())].get(&mu) {
                                    check_entry(&mu, e);
                                }
                            }
                            // Our own slots hold what we last wrote.
                            for (k, want) in last.iter().enumerate() {
                                let got = b[t as usize * PER + k].get(&mu).map(|e| (e.thread, e.seq));
                                assert_eq!(got, want.map(|s| (t, s)));
                            }
                            // Garbage.
                            for j in 0..20 {
                                new_entry(&mu, 99, j);
                            }
                        }
                        mu.safepoint();
                        if (i + 1) % (37 + 16 * t as usize) == 0 {
                            mu.collect();
                            explicit.fetch_add(1, SeqCst);
                        }
                    }
                    last
                })
            })
            .collect();
        let lasts: Vec<Vec<Option<u64>>> = workers.into_iter().map(|h| h.join().unwrap()).collect();
        collector.join().unwrap();

        let mut mu = heap.mutator();
        mu.collect();
        let explicit = explicit.load(SeqCst) + 1;
        let b = board.get(&mu);
        let mut entries = 0;
        for t in 0..THREADS {
            for (k, want) in lasts[t as usize].iter().enumerate() {
                let got = b[t as usize * PER + k].get(&mu);
                assert_eq!(got.map(|e| (e.thread, e.seq)), want.map(|s| (t, s)));
                if let Some(e) = got {
                    check_entry(&mu, e);
                    entries += 1;
                }
            }
        }
        let s = heap.stats();
        assert_eq!(s.live_objects, 1 + 2 * entries, "board + entries with their data");
        assert_eq!(s.allocated_objects_total - s.freed_objects_total, s.live_objects as u64);
        // Collections requested concurrently by several threads may share
        // a cycle; each thread's own requests need one each.
        let explicit = explicit / THREADS as usize;
        assert!(s.cycles as usize >= explicit, "{} cycles < {explicit} explicit collections", s.cycles);
        assert!(
            s.cycles as usize > explicit,
            "allocation should also have triggered collections ({} cycles, {explicit} explicit)",
            s.cycles
        );
    });
}

#[test]
fn parked_mutator_does_not_block_collections() {
    with_timeout(TIMEOUT, "parked", || {
        let heap = common::heap();
        let (ready_tx, ready_rx) = mpsc::channel();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let h = heap.clone();
        let a = thread::spawn(move || {
            let mut mu = h.mutator();
            let kept = mu.local(leaf_array(&mu, 0, 100));
            leaf_array(&mu, 1000, 100); // garbage
            ready_tx.send(()).unwrap();
            // Blocked on a channel, parked: collections go ahead.
            mu.parked(|| go_rx.recv().unwrap());
            check_leaf_array(&mu, kept.get(&mu), 0, 100);
            mu.collect();
            check_leaf_array(&mu, kept.get(&mu), 0, 100);
        });
        ready_rx.recv().unwrap();
        for _ in 0..5 {
            heap.collect();
        }
        let s = heap.stats();
        assert_eq!(s.cycles, 5);
        assert_eq!(s.live_objects, 101, "the parked mutator's locals are roots");
        assert_eq!(s.freed_objects_total, 101, "its garbage is not");
        go_tx.send(()).unwrap();
        a.join().unwrap();
        assert_eq!(heap.stats().cycles, 6);
    });
}

#[test]
fn sleeping_in_parked_does_not_delay_other_threads() {
    with_timeout(TIMEOUT, "parked-sleep", || {
        let heap = common::small_heap(64 << 10);
        let done = Arc::new(AtomicBool::new(false));
        let (h, d) = (heap.clone(), done.clone());
        // Sleeps, parked, until the worker below is done: if a collection
        // waited for it, the worker would never finish.
        let sleeper = thread::spawn(move || {
            let mut mu = h.mutator();
            let kept = mu.local(leaf_array(&mu, 0, 10));
            mu.parked(|| {
                while !d.load(SeqCst) {
                    thread::sleep(Duration::from_millis(10));
                }
            });
            check_leaf_array(&mu, kept.get(&mu), 0, 10);
        });
        // Meanwhile another mutator allocates (paced collections at its
        // safepoints) and collects explicitly.
        let h = heap.clone();
        let worker = thread::spawn(move || {
            let mut mu = h.mutator();
            for i in 0..40 {
                for _ in 0..10 {
                    leaf_array(&mu, i * 100, 100);
                }
                if i % 4 == 0 {
                    mu.collect();
                } else {
                    mu.safepoint();
                }
            }
        });
        worker.join().unwrap();
        let cycles = heap.stats().cycles;
        assert!(cycles >= 10, "only {cycles} cycles");
        done.store(true, SeqCst);
        sleeper.join().unwrap();
    });
}

#[test]
fn park_then_unpark_on_another_thread() {
    with_timeout(TIMEOUT, "park-unpark", || {
        let heap = common::heap();
        let (tx, rx) = mpsc::channel();
        let h = heap.clone();
        let a = thread::spawn(move || {
            let mu = h.mutator();
            let root = mu.root(leaf_array(&mu, 0, 50));
            let local = mu.local(leaf_array(&mu, 500, 20));
            let parked = mu.park();
            tx.send((parked, root)).unwrap();
            // The Local stays on this thread; it is not Send.
            drop(local);
        });
        let (parked, root) = rx.recv().unwrap();
        a.join().unwrap();
        // Collections proceed while the mutator is parked and in transit.
        heap.collect();
        heap.collect();
        let s = heap.stats();
        assert_eq!(s.live_objects, 51, "the dropped Local's array is freed, the Root's kept");
        let h = heap.clone();
        let b = thread::spawn(move || {
            let mut mu = parked.unpark();
            check_leaf_array(&mu, root.get(&mu), 0, 50);
            let extra = mu.local(leaf_array(&mu, 900, 5));
            mu.collect();
            check_leaf_array(&mu, root.get(&mu), 0, 50);
            check_leaf_array(&mu, extra.get(&mu), 900, 5);
            assert_eq!(h.stats().live_objects, 51 + 6);
            root
        });
        let root = b.join().unwrap();
        heap.collect();
        assert_eq!(heap.stats().live_objects, 51);
        drop(root);
        heap.collect();
        assert_eq!(heap.stats().live_objects, 0);
    });
}

#[test]
fn collect_from_inside_parked_closure() {
    with_timeout(TIMEOUT, "parked-collect", || {
        let heap = common::heap();
        let mut mu = heap.mutator();
        let kept = mu.local(leaf_array(&mu, 0, 30));
        leaf_array(&mu, 100, 30);
        let h = heap.clone();
        // While parked this thread has no running mutator, so Heap::collect
        // is allowed here; the parked mutator's locals stay roots.
        mu.parked(|| h.collect());
        let s = heap.stats();
        assert_eq!((s.cycles, s.live_objects), (1, 31));
        check_leaf_array(&mu, kept.get(&mu), 0, 30);
    });
}

thread_local! {
    static TLS_MUTATOR: std::cell::RefCell<Option<Mutator>> = const { std::cell::RefCell::new(None) };
}

#[test]
fn mutators_dropped_at_thread_exit_detach() {
    with_timeout(TIMEOUT, "thread-exit", || {
        let heap = common::heap();
        let mut handles = Vec::new();
        for t in 0..3u64 {
            let h = heap.clone();
            handles.push(thread::spawn(move || {
                let mu = h.mutator();
                let r = mu.root(leaf_array(&mu, t * 1000, 40));
                leaf_array(&mu, t * 1000 + 500, 40); // garbage
                if t == 2 {
                    // Left in a thread-local: dropped by the TLS destructor.
                    TLS_MUTATOR.with(|m| *m.borrow_mut() = Some(mu));
                }
                r
            }));
        }
        let roots: Vec<Root<Array<Slot<Leaf>>>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        // Would hang if an exited thread still counted as running.
        heap.collect();
        let s = heap.stats();
        assert_eq!(s.live_objects, 3 * 41, "orphaned roots keep their objects");
        let mut mu = heap.mutator();
        for (t, r) in roots.iter().enumerate() {
            check_leaf_array(&mu, r.get(&mu), t as u64 * 1000, 40);
        }
        drop(roots);
        mu.collect();
        assert_eq!(heap.stats().live_objects, 0);
    });
}

#[test]
fn root_dropped_on_another_thread_is_pruned() {
    with_timeout(TIMEOUT, "root-drop", || {
        #[derive(Trace)]
        struct Owned {
            token: DropToken,
            next: Slot<Owned>,
        }
        let log = DropLog::new(100);
        let heap = common::heap();
        let mut mu = heap.mutator();
        let make = |mu: &Mutator, first: usize| {
            let mut head = None;
            for id in first..first + 50 {
                head = Some(mu.alloc(Owned { token: DropToken::new(&log, id), next: Slot::from_option(head) }));
            }
            mu.root(head.unwrap())
        };
        let a = make(&mu, 0);
        let b = make(&mu, 50);
        let b2 = b.clone();
        // `a` and one clone of `b` are dropped on a thread with no mutator.
        thread::spawn(move || {
            drop(a);
            drop(b2);
        })
        .join()
        .unwrap();
        mu.collect();
        log.assert_range(0..50, 1, "root dropped elsewhere");
        log.assert_range(50..100, 0, "a clone is still held");
        assert_eq!(heap.stats().live_objects, 50);
        // The surviving clone still works, and goes away in turn when
        // dropped on another mutator thread.
        assert_eq!(b.get(&mu).token.id, 99);
        let h = heap.clone();
        mu.parked(|| {
            thread::spawn(move || {
                let _mu = h.mutator();
                drop(b);
            })
            .join()
            .unwrap()
        });
        mu.collect();
        log.assert_range(50..100, 1, "last clone dropped");
        assert_eq!(heap.stats().live_objects, 0);
    });
}

#[test]
fn concurrent_explicit_collections_from_every_thread() {
    with_timeout(TIMEOUT, "concurrent-collect", || {
        const THREADS: u64 = 3;
        let rounds = 25;
        let heap = common::heap();
        let mut hs = Vec::new();
        for t in 0..THREADS {
            let h = heap.clone();
            hs.push(thread::spawn(move || {
                let mut mu = h.mutator();
                let mut mine = mu.local(leaf_array(&mu, t * 100_000, 64));
                for r in 0..rounds {
                    leaf_array(&mu, 1, 64); // garbage
                    mu.collect();
                    check_leaf_array(&mu, mine.get(&mu), t * 100_000, 64);
                    if r % 5 == 0 {
                        // Re-root a fresh array; the old one becomes garbage.
                        mine = mu.local(leaf_array(&mu, t * 100_000, 64));
                    }
                }
            }));
        }
        let h = heap.clone();
        hs.push(thread::spawn(move || {
            for _ in 0..rounds {
                h.collect();
            }
        }));
        for h in hs {
            h.join().unwrap();
        }
        let s = heap.stats();
        // Concurrent `collect` calls may share a cycle (each waits for one
        // that started after it was called), but one thread's successive
        // calls each need a cycle of their own.
        assert!(
            s.cycles as usize >= rounds,
            "each of a thread's explicit collects runs a cycle: {} < {rounds}",
            s.cycles
        );
        heap.collect();
        assert_eq!(heap.stats().live_objects, 0);
    });
}

#[test]
fn mutators_attach_and_detach_while_others_collect() {
    with_timeout(TIMEOUT, "attach-detach", || {
        let heap = common::small_heap(64 << 10);
        let stop = Arc::new(AtomicBool::new(false));
        let h = heap.clone();
        let st = stop.clone();
        let collector = thread::spawn(move || {
            let mut mu = h.mutator();
            let mut n = 0;
            while !st.load(SeqCst) {
                leaf_array(&mu, 0, 32);
                mu.collect();
                n += 1;
            }
            n
        });
        let mut roots = Vec::new();
        for round in 0..60u64 {
            let h = heap.clone();
            // Short-lived threads with short-lived mutators.
            let r = thread::spawn(move || {
                let mut mu = h.mutator();
                let r = mu.root(leaf_array(&mu, round * 1000, 16));
                for _ in 0..3 {
                    leaf_array(&mu, 7, 16);
                    mu.safepoint();
                }
                check_leaf_array(&mu, r.get(&mu), round * 1000, 16);
                r
            })
            .join()
            .unwrap();
            roots.push(r);
        }
        stop.store(true, SeqCst);
        let n = collector.join().unwrap();
        assert!(n > 0);
        let mut mu = heap.mutator();
        mu.collect();
        for (round, r) in roots.iter().enumerate() {
            check_leaf_array(&mu, r.get(&mu), round as u64 * 1000, 16);
        }
        assert_eq!(heap.stats().live_objects, roots.len() * 17);
    });
}

/// A thread that runs `heap.collect()` once signalled through the sender.
fn collector_on_signal(heap: &Heap) -> (mpsc::Sender<()>, thread::JoinHandle<()>) {
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let h = heap.clone();
    let collector = thread::spawn(move || {
        go_rx.recv().unwrap();
        h.collect();
    });
    (go_tx, collector)
}

#[test]
fn dropping_a_parked_mutator_on_a_running_thread_during_a_collection() {
    // A ParkedMutator can be handed to another thread (it is Send). That
    // thread may have a running mutator of its own; dropping the parked one
    // there while another thread is stopping the world must not deadlock.
    with_timeout(20, "drop-parked", || {
        let heap = common::heap();
        let parked = heap.mutator().park();
        let (go_tx, collector) = collector_on_signal(&heap);
        let mut mu = heap.mutator();
        let kept = mu.local(leaf_array(&mu, 0, 10));
        go_tx.send(()).unwrap();
        // Give the collector time to start stopping the world, which waits
        // for this (running) mutator.
        thread::sleep(Duration::from_millis(200));
        // Must not wait for the stop (which waits for `mu`): the collector
        // detaches the dropped mutator itself.
        drop(parked);
        mu.safepoint();
        mu.parked(|| collector.join().unwrap());
        check_leaf_array(&mu, kept.get(&mu), 0, 10);
    });
}

#[test]
fn dropping_a_parked_mutator_from_inside_parked_is_fine() {
    // As above, with this thread's own mutator parked too while the parked
    // one is dropped.
    with_timeout(TIMEOUT, "drop-parked-parked", || {
        let heap = common::heap();
        let parked = heap.mutator().park();
        let (go_tx, collector) = collector_on_signal(&heap);
        let mut mu = heap.mutator();
        let kept = mu.local(leaf_array(&mu, 0, 10));
        go_tx.send(()).unwrap();
        mu.parked(|| {
            thread::sleep(Duration::from_millis(50));
            drop(parked);
            collector.join().unwrap();
        });
        check_leaf_array(&mu, kept.get(&mu), 0, 10);
        assert_eq!(heap.stats().cycles, 1);
    });
}

#[test]
fn heap_handles_and_roots_cross_threads() {
    with_timeout(TIMEOUT, "handles", || {
        let heap = common::heap();
        let other = common::heap();
        assert!(Heap::ptr_eq(&heap, &heap.clone()));
        assert!(!Heap::ptr_eq(&heap, &other));
        let mu = heap.mutator();
        assert!(Heap::ptr_eq(&mu.heap(), &heap));
        let r = mu.root(mu.alloc_str("from the main thread"));
        drop(mu);
        let h = heap.clone();
        let r2 = thread::spawn(move || {
            let mu = h.mutator();
            assert_eq!(r.get(&mu).as_str(), "from the main thread");
            mu.root(mu.alloc_str("from a worker"))
        })
        .join()
        .unwrap();
        heap.collect();
        let mu = heap.mutator();
        assert_eq!(r2.get(&mu).as_str(), "from a worker");
        assert_eq!(heap.stats().live_objects, 1);
    });
}

/// While mark start waits for a late mutator (one that runs without a
/// safepoint), no other mutator waits for it, nothing can be freed, and the
/// heap still keeps its limit: `try_alloc` fails with `HeapLimit` instead of
/// growing. Once the late mutator reaches a safepoint, the cycle completes
/// and allocation succeeds again.
#[test]
fn heap_limit_holds_while_a_mutator_is_late() {
    with_timeout(TIMEOUT, "heap_limit_holds_while_a_mutator_is_late", || {
        const LIMIT: usize = 24 << 20;
        let heap = Heap::new(shade::Config { heap_limit: Some(LIMIT), ..common::config() }).expect("heap");
        let late_started = Arc::new(AtomicBool::new(false));
        let release = Arc::new(AtomicBool::new(false));
        let late = {
            let (heap, started, release) = (heap.clone(), late_started.clone(), release.clone());
            thread::spawn(move || {
                let mut mu = heap.mutator();
                started.store(true, SeqCst);
                // Late: no safepoint until released.
                while !release.load(SeqCst) {
                    std::hint::spin_loop();
                }
                for _ in 0..1000 {
                    mu.safepoint();
                    thread::sleep(Duration::from_millis(1));
                }
                mu.id()
            })
        };
        while !late_started.load(SeqCst) {
            thread::yield_now();
        }
        let mut mu = heap.mutator();
        // Garbage only: everything allocated is dropped at once.
        let mut failed = None;
        for _ in 0..1_000_000 {
            match mu.try_alloc_array(1000, |i| i as u64) {
                Ok(_) => {}
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
            mu.safepoint(); // never blocks: mark start does not stop anyone
        }
        let e = failed.expect("allocation must fail at the limit while the cycle waits for the late mutator");
        assert!(matches!(e, shade::AllocError::HeapLimit { .. }), "{e:?}");
        assert!(heap.stats().heap_in_use <= LIMIT, "{:?}", heap.stats());
        assert_eq!(heap.stats().cycles, 0, "no cycle can complete while a mutator is late");
        release.store(true, SeqCst);
        // The cycle completes once the late mutator polls; then the garbage
        // is swept and allocation succeeds again.
        let ok = (0..20_000).any(|_| {
            mu.safepoint();
            thread::sleep(Duration::from_micros(200));
            mu.try_alloc_array(1000, |i| i as u64).is_ok()
        });
        assert!(ok, "allocation recovers after the late mutator's safepoint: {:?}", heap.stats());
        let late_id = mu.parked(|| late.join()).unwrap();
        let s = heap.stats();
        assert!(s.cycles >= 1);
        assert_eq!(s.late_mutator.map(|l| l.0), Some(late_id), "the stats name the late mutator: {s:?}");
    });
}
