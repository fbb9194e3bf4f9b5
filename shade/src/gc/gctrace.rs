//! `SHADE_DEBUG=gctrace=1`: one line per cycle on stderr, in the spirit of
//! Go's gctrace. Example and fields:
//!
//! ```text
//! shade gc 7 @1.204s 3%: 0.021+5.1+0.080 ms clock, 0.011 ms to safepoint, 0.030 ms handshakes (1 late, last: mutator 2), 9.8 ms mark cpu, 48->21 MB, 42 MB goal, 1 workers, 0 retries (0.000 ms), sweep 0.9 ms, 123456 objects marked
//! ```
//!
//! * `gc 7`: cycle number; `@1.204s`: time since the heap was created;
//!   `3%`: share of the process's CPU time spent in the collector so far.
//! * `a+b+c ms clock`: the mark-start hold (the longest any one mutator
//!   spent on its own part of mark start's handshakes), the concurrent mark
//!   phase (wall time, mutators running, until marking closed), and the
//!   termination hold (with `termination=ragged`, the longest any one
//!   mutator spent on its own part of termination's flush and flip rounds;
//!   with `termination=stop`, the stop's pause). In `gcstoptheworld` mode
//!   the line says `STW` and `a` is the whole pause.
//! * `to safepoint`: the longest wait in this cycle's stops for running
//!   mutators to reach a safepoint (`HeapStats::stop_wait_max`). It is not
//!   itself a pause: a mutator still running is not paused; a stop's pause
//!   counts from the first mutator that blocked on it, so only the part of
//!   this wait after that moment is in `a` or `c`.
//! * `handshakes`: how long the cycle's ragged handshake rounds (mark
//!   start's, and termination's flush and flip rounds) waited for late
//!   mutators (`HeapStats::handshake_wait_max`), how many mutators
//!   the round that waited for the most had to wait for, and which mutator
//!   (`Mutator::id`) the longer round waited for last. No mutator waits
//!   meanwhile: this delays the cycle, not the program.
//! * `mark cpu`: CPU time of all mark workers together (assists excluded).
//! * `x->y MB`: heap when the cycle started, heap marked live (including
//!   objects allocated black during marking). `goal`: the next cycle's goal.
//! * `retries`: termination attempts that found work and resumed marking
//!   (ragged: flush rounds beyond the first, no pause; stop: each one a
//!   short pause of its own, their total in parentheses).
//! * `sweep`: wall time of the background sweep after the cycle.
//! * `weak` (only when weak references or cleanups exist): live weak cells,
//!   how many were cleared, cleanups queued, the time termination spent on
//!   them (`pause`: with `termination=stop`, converging ephemerons and
//!   taking the lists inside the stop; ragged, taking the lists, with
//!   mutators running) and the clearing window after the restart (`window`: clearing,
//!   with mutators running; no span is swept before it ends).

use super::collector::CycleReport;

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub(crate) fn format(r: &CycleReport) -> String {
    let retries = r.pauses.retries.iter().fold(0.0, |a, d| a + ms(*d));
    format!(
        "shade gc {} @{:.3}s {:.0}%{}: {:.3}+{:.3}+{:.3} ms clock, {:.3} ms to safepoint, {:.3} ms handshakes ({} late{}), {:.3} ms mark cpu, {}->{} MB, {} MB goal, {} workers, {} retries ({:.3} ms), sweep {:.3} ms, {} objects marked{}{}",
        r.cycle,
        r.at.as_secs_f64(),
        r.gc_cpu_percent,
        if r.stop_the_world { " STW" } else { "" },
        ms(r.pauses.start),
        ms(r.mark_wall),
        ms(r.pauses.termination),
        ms(r.pauses.stop_wait_max),
        ms(r.handshake_wait),
        r.late_mutators,
        r.late_last.map_or(String::new(), |id| format!(", last: mutator {id}")),
        ms(r.mark_cpu),
        r.heap_before >> 20,
        r.heap_marked >> 20,
        r.goal >> 20,
        r.workers,
        r.termination_retries,
        retries,
        ms(r.sweep_wall),
        r.live_objects,
        if r.released > 0 { format!(", released {} KB", r.released >> 10) } else { String::new() },
        if r.weak.cells + r.weak.cleared + r.weak.cleanups_ready > 0 {
            format!(
                ", weak {} cells {} cleared {} cleanups ({:.3} ms pause, {:.3} ms window)",
                r.weak.cells,
                r.weak.cleared,
                r.weak.cleanups_ready,
                ms(r.weak_time),
                ms(r.weak_clear_time)
            )
        } else {
            String::new()
        },
    )
}
