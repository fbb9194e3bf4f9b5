//! Dynamic values (issue 9): `Value`/`ValueSlot` keep exactly the objects
//! they hold alive (an immediate whose bits look like an address keeps
//! nothing), erased pointers downcast and call trait methods only as the
//! object's real type, and a `RootStack` roots its live part with no
//! barrier, also while marking runs concurrently (`checkmark` verifies each
//! termination in the stress tests).

mod common;

use common::{expect_panic, mix, Rng};
use shade::{Array, Gc, GcAny, Mutator, RootStack, Trace, Value, ValueKind, ValueSlot, WeakRoot};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;

#[derive(Trace)]
struct Obj {
    id: u64,
    check: u64,
    fields: [ValueSlot; 3],
}

fn obj(mu: &Mutator, id: u64) -> Gc<'_, Obj> {
    mu.alloc(Obj { id, check: mix(id), fields: Default::default() })
}

/// Panics unless `v` is nil, an immediate, or an intact `Obj`.
fn check_value(mu: &Mutator, v: Value<'_>) {
    if let Some(o) = v.as_object() {
        let o = o.downcast::<Obj>(mu).expect("only Objs are stored");
        assert_eq!(o.check, mix(o.id), "object {} corrupted (freed while reachable?)", o.id);
    }
}

/// Collects until `weak` is cleared (at most `rounds` times).
fn dies_within(mu: &mut Mutator, weak: &WeakRoot<Obj>, rounds: usize) -> bool {
    for _ in 0..rounds {
        mu.collect();
        if weak.upgrade(mu).is_none() {
            return true;
        }
    }
    false
}

#[test]
fn value_kinds_round_trip() {
    let heap = common::heap();
    let mu = heap.mutator();
    let o = obj(&mu, 1);
    let cases: Vec<(Value, ValueKind)> = vec![
        (Value::NIL, ValueKind::Nil),
        (Value::default(), ValueKind::Nil),
        (Value::TRUE, ValueKind::Bool),
        (Value::bool(false), ValueKind::Bool),
        (Value::number(0.0), ValueKind::Number),
        (Value::number(-0.0), ValueKind::Number),
        (Value::number(f64::NAN), ValueKind::Number),
        (Value::number(f64::NEG_INFINITY), ValueKind::Number),
        (Value::int(0), ValueKind::Int),
        (Value::try_int(Value::INT_MIN).unwrap(), ValueKind::Int),
        (Value::try_int(Value::INT_MAX).unwrap(), ValueKind::Int),
        (Value::object(o), ValueKind::Object),
    ];
    for (v, k) in &cases {
        assert_eq!(v.kind(), *k, "{v:?}");
        // Through a heap slot and back: the same word.
        let holder = mu.alloc(ValueSlot::new(*v));
        assert_eq!(holder.get(&mu), *v);
        let s = obj(&mu, 2);
        s.fields[1].set(&mu, *v);
        assert_eq!(s.fields[1].get(&mu), *v);
    }
    assert!(Value::try_int(Value::INT_MAX + 1).is_none() && Value::try_int(Value::INT_MIN - 1).is_none());
    assert_eq!(Value::int(-5).as_int(), Some(-5));
    assert_eq!(Value::int(-5).as_number(), None);
    assert_eq!(Value::int(-5).as_f64(), Some(-5.0));
    assert!(Value::number(f64::NAN).as_number().unwrap().is_nan());
    assert_eq!(Value::number(-0.0).as_number().unwrap().to_bits(), (-0.0f64).to_bits());
    assert_eq!(Value::object(o).downcast::<Obj>(&mu).unwrap().id, 1);
    assert_eq!(format!("{:?}", Value::int(3)), "3");
    assert_eq!(format!("{:?}", Value::NIL), "nil");
}

#[test]
fn a_value_slot_keeps_its_object_and_an_address_lookalike_keeps_nothing() {
    let heap = common::heap();
    let mut mu = heap.mutator();
    let kept = obj(&mu, 10);
    let lookalike = obj(&mu, 11);
    let addr = lookalike.as_ptr() as u64;
    let holder = mu.local(mu.alloc(Obj {
        id: 12,
        check: mix(12),
        fields: [
            ValueSlot::new(Value::object(kept)),
            // The lookalike's address as a double's bits and as an integer:
            // neither is a pointer word, so neither may keep it alive.
            ValueSlot::new(Value::number(f64::from_bits(addr))),
            ValueSlot::new(Value::try_int(addr as i64).expect("addresses fit in 48 bits")),
        ],
    }));
    let (w_kept, w_look) = (WeakRoot::new(&mu, kept), WeakRoot::new(&mu, lookalike));
    assert!(dies_within(&mut mu, &w_look, 3), "an immediate kept an object alive");
    assert_eq!(w_kept.upgrade(&mu).expect("held by a value slot").id, 10);
    let h = holder.get(&mu);
    assert_eq!(h.fields[1].get(&mu).as_number().map(f64::to_bits), Some(addr));
    assert_eq!(h.fields[2].get(&mu).as_int(), Some(addr as i64));
    // Overwriting the object with an immediate releases it.
    h.fields[0].set(&mu, Value::number(1.0));
    assert!(dies_within(&mut mu, &w_kept, 3), "overwritten object still alive");
}

#[test]
fn a_value_slot_witness_expires_at_a_collection_and_slots_outside_the_heap_refuse() {
    let heap = common::heap();
    let mut mu = heap.mutator();
    let stale = ValueSlot::new(Value::object(obj(&mu, 1)));
    mu.collect(); // frees the object: the witness must not survive
    let msg = expect_panic("stale value witness", || mu.alloc(stale));
    assert!(msg.contains("has no witness"), "{msg}");
    // Immediates need no witness.
    let imm = ValueSlot::new(Value::number(2.0));
    mu.collect();
    assert_eq!(mu.alloc(imm).get(&mu).as_number(), Some(2.0));
    // A value slot on the stack: reading an object out of it or writing it
    // panics (the barrier would record a value nothing keeps alive).
    let on_stack = ValueSlot::new(Value::object(obj(&mu, 2)));
    let msg = expect_panic("get outside the heap", || on_stack.get(&mu).is_object());
    assert!(msg.contains("not inside an object"), "{msg}");
    let msg = expect_panic("set outside the heap", || on_stack.set(&mu, Value::NIL));
    assert!(msg.contains("invalid pointer store"), "{msg}");
    assert_eq!(ValueSlot::new(Value::int(4)).get(&mu).as_int(), Some(4), "an immediate reads anywhere");
}

trait Describe {
    fn describe(&self) -> String;
}
trait Area {
    fn area(&self) -> f64;
}

#[derive(Trace)]
#[shade(dyn(Describe, Area))]
struct Square {
    side: f64,
}
impl Describe for Square {
    fn describe(&self) -> String {
        format!("square {}", self.side)
    }
}
impl Area for Square {
    fn area(&self) -> f64 {
        self.side * self.side
    }
}

#[derive(Trace)]
#[shade(dyn(Describe))]
struct Named<T: Send + Sync> {
    name: String,
    inner: T,
}
impl<T: Send + Sync> Describe for Named<T> {
    fn describe(&self) -> String {
        format!("named {}", self.name)
    }
}

#[test]
fn erased_pointers_downcast_and_call_traits_as_their_real_type() {
    let heap = common::heap();
    let mu = heap.mutator();
    let sq: GcAny = mu.alloc(Square { side: 3.0 }).into();
    let named: GcAny = mu.alloc(Named { name: "n".to_string(), inner: 5u32 }).into();
    let plain: GcAny = mu.alloc(7u64).into();
    let arr: GcAny = mu.alloc_array(3, |i| i as u32).into();

    assert!(sq.is::<Square>(&mu) && !sq.is::<u64>(&mu));
    assert_eq!(sq.downcast::<Square>(&mu).unwrap().side, 3.0);
    assert!(named.downcast::<Named<u64>>(&mu).is_none(), "generic instances are distinct types");
    assert_eq!(named.downcast::<Named<u32>>(&mu).unwrap().inner, 5);
    assert_eq!(*plain.downcast::<u64>(&mu).unwrap(), 7);
    assert_eq!(arr.downcast::<Array<u32>>(&mu).unwrap().as_slice(), &[0, 1, 2]);
    assert!(arr.downcast::<Array<u64>>(&mu).is_none());
    assert!(sq.type_name(&mu).ends_with("Square"), "{}", sq.type_name(&mu));

    assert_eq!(sq.to_dyn::<dyn Describe>(&mu).unwrap().describe(), "square 3");
    assert_eq!(sq.to_dyn::<dyn Area>(&mu).unwrap().area(), 9.0);
    assert_eq!(named.to_dyn::<dyn Describe>(&mu).unwrap().describe(), "named n");
    assert!(named.to_dyn::<dyn Area>(&mu).is_none(), "Named did not register Area");
    assert!(plain.to_dyn::<dyn Describe>(&mu).is_none());
    assert!(Value::object(sq).to_dyn::<dyn Area>(&mu).is_some());

    // Descriptors of one type made in different places compare equal: the
    // same type allocated through a second, separately instantiated path.
    fn alloc_elsewhere(mu: &Mutator) -> GcAny<'_> {
        mu.alloc(Square { side: 1.0 }).into()
    }
    assert!(alloc_elsewhere(&mu).is::<Square>(&mu));

    let other = common::heap();
    let omu = other.mutator();
    let msg = expect_panic("GcAny with another heap's mutator", || sq.is::<Square>(&omu));
    assert!(msg.contains("another heap"), "{msg}");
}

#[test]
fn a_root_stack_roots_its_live_part_only() {
    let heap = common::heap();
    let mut mu = heap.mutator();
    let mut stack = RootStack::new(&mu);
    let mut weak = Vec::new();
    for i in 0..100 {
        let o = obj(&mu, i);
        weak.push(WeakRoot::new(&mu, o));
        stack.push(&mu, Value::object(o));
        stack.push(&mu, Value::int(i as i32));
    }
    for _ in 0..2 {
        mu.collect();
    }
    for i in 0..100 {
        let v = stack.get(&mu, 2 * i);
        assert_eq!(v.downcast::<Obj>(&mu).unwrap().id, i as u64);
        assert_eq!(stack.get(&mu, 2 * i + 1).as_int(), Some(i as i64));
    }
    // Above the length is not scanned, even though nothing cleared it.
    stack.truncate(&mu, 100);
    assert!(dies_within(&mut mu, &weak[99], 3), "a value above the stack's length stayed alive");
    assert!(weak[49].upgrade(&mu).is_some(), "a value below the length died");
    // Overwriting a place releases its object; pop hands the value out.
    stack.set(&mu, 0, Value::NIL);
    assert!(dies_within(&mut mu, &weak[0], 3));
    let top = stack.pop(&mu).unwrap();
    assert_eq!(top.as_int(), Some(49));
    assert_eq!(stack.last(&mu).unwrap().downcast::<Obj>(&mu).unwrap().id, 49);
    assert_eq!(stack.iter(&mu).filter(|v| v.is_object()).count(), 49);
    stack.extend_from_within(&mu, 2..4);
    assert_eq!(stack.get(&mu, 99).downcast::<Obj>(&mu).unwrap().id, 1);
    // Dropping the stack unroots everything.
    drop(stack);
    assert!(dies_within(&mut mu, &weak[1], 3), "a dropped stack still rooted its values");
}

#[test]
fn a_root_stack_refuses_misuse() {
    let heap = common::heap();
    let mu = heap.mutator();
    let mut stack = RootStack::new(&mu);
    stack.push(&mu, Value::int(1));
    let msg = expect_panic("out of bounds", || stack.get(&mu, 5));
    assert!(msg.contains("out of bounds"), "{msg}");
    // Another mutator of the same heap (the owner parked meanwhile).
    let parked = mu.park();
    let mu2 = heap.mutator();
    let msg = expect_panic("another mutator of the heap", || stack.get(&mu2, 0));
    assert!(msg.contains("other than the one that created it"), "{msg}");
    drop(mu2);
    let mu = parked.unpark();
    assert_eq!(stack.get(&mu, 0).as_int(), Some(1));
    // Another heap's mutator, and another heap's object.
    let heap2 = common::heap();
    let mu3 = heap2.mutator();
    let msg = expect_panic("wrong mutator", || stack.get(&mu3, 0));
    assert!(msg.contains("other than the one that created it"), "{msg}");
    let foreign = mu3.alloc(5u64);
    let msg = expect_panic("foreign object", || stack.push(&mu, Value::object(foreign)));
    assert!(msg.contains("another heap"), "{msg}");
}

/// Several mutators store objects, immediates and address lookalikes into
/// a shared array of value slots and into their own root stacks, while
/// another thread collects back to back (`checkmark`, `smallbuf`,
/// `clobberfree`): every object read back is intact.
#[test]
fn values_and_root_stacks_under_concurrent_marking() {
    let forced = common::ForcedCollections::start();
    let heap = forced.heap.clone();
    const SLOTS: usize = 2048;
    let table = {
        let mu = heap.mutator();
        mu.root(mu.alloc_array(SLOTS, |_| ValueSlot::nil()))
    };
    let ops = common::iters(300_000);
    let done = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..2u64)
        .map(|t| {
            let (heap, table, done) = (heap.clone(), table.clone(), done.clone());
            std::thread::spawn(move || {
                let mut mu = heap.mutator();
                let mut stack = RootStack::new(&mu);
                let mut rng = Rng::new(0x5eed + t);
                let mut next_id = t << 40;
                let start_cycles = heap.stats().cycles;
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
                let mut i = 0;
                while i < ops || (heap.stats().cycles < start_cycles + 20 && std::time::Instant::now() < deadline) {
                    i += 1;
                    let tab = table.get(&mu);
                    let k = rng.below(SLOTS);
                    match rng.below(8) {
                        0 | 1 => {
                            next_id += 1;
                            let o = obj(&mu, next_id);
                            // Link it to whatever a random slot holds now.
                            o.fields[0].set(&mu, tab[rng.below(SLOTS)].get(&mu));
                            o.fields[1].set(&mu, Value::number(f64::from_bits(o.as_ptr() as u64)));
                            tab[k].set(&mu, Value::object(o));
                        }
                        2 => tab[k].set(&mu, Value::int(k as i32)),
                        3 => {
                            let v = tab[k].get(&mu);
                            check_value(&mu, v);
                            stack.push(&mu, v);
                        }
                        4 => {
                            if let Some(v) = stack.pop(&mu) {
                                check_value(&mu, v);
                                tab[k].set(&mu, v);
                            }
                        }
                        5 => {
                            // Follow a chain of field-0 links.
                            let mut v = tab[k].get(&mu);
                            for _ in 0..8 {
                                check_value(&mu, v);
                                match v.downcast::<Obj>(&mu) {
                                    Some(o) => v = o.fields[0].get(&mu),
                                    None => break,
                                }
                            }
                        }
                        6 if rng.chance(1, 2) => {
                            // Move an object from deep in a chain to the
                            // table, unlinking it: the deletion the barrier
                            // must record while the chain is unscanned.
                            let mut o = tab[k].get(&mu).downcast::<Obj>(&mu);
                            for _ in 0..rng.below(6) {
                                match o.and_then(|x| x.fields[0].get(&mu).downcast::<Obj>(&mu)) {
                                    Some(n) => o = Some(n),
                                    None => break,
                                }
                            }
                            if let Some(o) = o {
                                let v = o.fields[0].replace(&mu, Value::NIL);
                                check_value(&mu, v);
                                tab[rng.below(SLOTS)].set(&mu, v);
                            }
                        }
                        6 => {
                            if stack.len() > 64 {
                                let n = rng.below(stack.len());
                                stack.truncate(&mu, n);
                            }
                        }
                        _ => {
                            for j in 0..stack.len() {
                                check_value(&mu, stack.get(&mu, j));
                            }
                            mu.safepoint();
                        }
                    }
                    if i % 64 == 0 {
                        mu.safepoint();
                    }
                }
                for j in 0..stack.len() {
                    check_value(&mu, stack.get(&mu, j));
                }
                eprintln!("thread {t}: {i} ops, {} cycles", heap.stats().cycles - start_cycles);
                assert!(heap.stats().cycles >= start_cycles + 20, "collections did not run during the test");
                done.store(true, SeqCst);
            })
        })
        .collect();
    for t in threads {
        t.join().expect("mutator thread");
    }
    assert!(done.load(SeqCst));
    let mut mu = heap.mutator();
    let tab = table.get(&mu);
    for s in tab.iter() {
        check_value(&mu, s.get(&mu));
    }
    forced.stop(Some(&mut mu));
}

#[derive(Trace)]
#[shade(dyn(Describe))]
struct ProtoHead {
    arity: u32,
}
impl Describe for ProtoHead {
    fn describe(&self) -> String {
        format!("proto/{}", self.arity)
    }
}

#[test]
fn a_tail_object_keeps_its_inline_elements_alive_and_drops_them_once() {
    use common::{DropLog, DropToken};
    let heap = common::heap();
    let mut mu = heap.mutator();
    let kept: Vec<_> = (0..4).map(|i| obj(&mu, 100 + i)).collect();
    let weak: Vec<_> = kept.iter().map(|&o| WeakRoot::new(&mu, o)).collect();
    let c = mu.alloc_tail(ProtoHead { arity: 2 }, 4, |i| ValueSlot::new(Value::object(kept[i])));
    let c = mu.local(c);
    for _ in 0..2 {
        mu.collect();
    }
    let t = c.get(&mu);
    assert_eq!(t.arity, 2);
    for (i, s) in t.tail().iter().enumerate() {
        assert_eq!(s.get(&mu).downcast::<Obj>(&mu).unwrap().id, 100 + i as u64);
    }
    assert_eq!(GcAny::from(t).to_dyn::<dyn Describe>(&mu).unwrap().describe(), "proto/2", "the header's traits");
    t.tail()[1].set(&mu, Value::NIL);
    assert!(dies_within(&mut mu, &weak[1], 3), "a cleared tail element stayed alive");
    assert!(weak[0].upgrade(&mu).is_some() && weak[3].upgrade(&mu).is_some());

    // Drop glue: the header and exactly the elements built, once, also
    // when the initialiser panics midway.
    let log = DropLog::new(20);
    let _ = mu.alloc_tail(DropToken::new(&log, 0), 5, |i| DropToken::new(&log, 1 + i));
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        mu.alloc_tail(DropToken::new(&log, 10), 5, |i| {
            if i == 3 {
                panic!("init fails");
            }
            DropToken::new(&log, 11 + i)
        })
    }));
    for _ in 0..3 {
        mu.collect();
    }
    log.assert_range(0..6, 1, "tail and elements");
    log.assert_range(10..14, 1, "tail built up to the panic");
    log.assert_range(14..20, 0, "never built");
}

#[test]
fn strings_are_validated_once_and_intern_by_str() {
    let heap = common::heap();
    let mut mu = heap.mutator();
    let set = mu.root(shade::WeakSet::<shade::Str>::alloc(&mu));
    let a = set.get(&mu).intern(&mu, "héllo", |mu| mu.alloc_string("héllo"));
    let b = set.get(&mu).intern(&mu, "héllo", |mu| mu.alloc_string("héllo"));
    assert!(Gc::ptr_eq(a, b), "one object per content");
    assert_eq!(a.as_str(), "héllo");
    assert_eq!(a.len(), "héllo".len());
    assert_eq!(a.hash_code(), mu.alloc_string("héllo").hash_code());
    assert_ne!(a.hash_code(), mu.alloc_string("hello").hash_code());
    let empty = mu.alloc_string("");
    assert_eq!(empty.as_str(), "");
    let weak = WeakRoot::new(&mu, mu.alloc_string("transient"));
    let _ = set.get(&mu).intern(&mu, "transient2", |mu| mu.alloc_string("transient2"));
    mu.collect();
    assert!(weak.upgrade(&mu).is_none());
    assert!(set.get(&mu).get(&mu, "transient2").is_none(), "a dead string left the intern table");
}

#[derive(Trace)]
struct Leaf {
    parent: shade::Member<Obj>,
}

#[test]
fn a_member_is_never_null_and_follows_the_slot_rules() {
    let heap = common::heap();
    let mut mu = heap.mutator();
    let p = obj(&mu, 7);
    let w = WeakRoot::new(&mu, p);
    let leaf = mu.local(mu.alloc(Leaf { parent: shade::Member::new(p) }));
    mu.collect();
    assert_eq!(leaf.get(&mu).parent.get(&mu).id, 7, "a member keeps its target");
    leaf.get(&mu).parent.set(&mu, obj(&mu, 8));
    assert!(dies_within(&mut mu, &w, 3), "the replaced target died");
    assert_eq!(leaf.get(&mu).parent.get(&mu).id, 8);
    // Outside the heap: no read; a stale one cannot be allocated either.
    let on_stack = shade::Member::new(obj(&mu, 9));
    let msg = expect_panic("member outside the heap", || on_stack.get(&mu).id);
    assert!(msg.contains("not inside an object"), "{msg}");
    mu.collect();
    let msg = expect_panic("stale member", || mu.alloc(Leaf { parent: on_stack }));
    assert!(msg.contains("has no witness"), "{msg}");
}
