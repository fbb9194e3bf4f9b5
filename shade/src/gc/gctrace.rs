//! `SHADE_DEBUG=gctrace=1`: one line per cycle on stderr, in the spirit of
//! Go's gctrace. Fields:
//!
//! ```text
//! shade gc 7 @1.204s 3%: 0.02+5.1+0.80 ms clock, 9.8 ms mark cpu, 48->49->21 MB, 42 MB goal, 2 workers, pause 5.9 ms
//! ```
//!
//! * `gc 7`: cycle number; `@1.204s`: time since the heap was created;
//!   `3%`: share of the process's CPU time spent in the collector so far.
//! * `a+b+c ms clock`: wall time to stop the world, to mark, to sweep.
//! * `mark cpu`: CPU time of all mark workers together.
//! * `x->y->z MB`: heap at the start of the cycle, heap accounted after
//!   sweeping, live (marked) heap. `goal`: when the next cycle is due.
//! * `pause`: how long mutators were stopped.

use super::collector::CycleReport;

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn mb(b: usize) -> usize {
    b >> 20
}

pub(crate) fn format(r: &CycleReport) -> String {
    format!(
        "shade gc {} @{:.3}s {:.0}%: {:.3}+{:.3}+{:.3} ms clock, {:.3} ms mark cpu, {}->{}->{} MB, {} MB goal, {} workers, pause {:.3} ms, {} objects live{}",
        r.cycle,
        r.at.as_secs_f64(),
        r.gc_cpu_percent,
        ms(r.stop_wall),
        ms(r.mark_wall),
        ms(r.sweep_wall),
        ms(r.mark_cpu),
        mb(r.heap_before),
        mb(r.heap_after),
        mb(r.live_bytes),
        mb(r.goal),
        r.workers,
        ms(r.pause),
        r.live_objects,
        if r.released > 0 { format!(", released {} KB", r.released >> 10) } else { String::new() },
    )
}
