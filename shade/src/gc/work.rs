//! The marker's work queues (Go's gcWork and workbufs).
//!
//! Grey objects (marked, not yet scanned) are kept in fixed-size work
//! buffers. Each mark worker — and, for the concurrent collector, each
//! mutator flushing its write barrier buffer — owns a `GcWork` with two
//! buffers, `wbuf1` (the one pushed to and popped from) and `wbuf2` (a
//! spare). Having two means a worker that hovers around a buffer boundary
//! swaps them instead of hitting the global lists on every other operation
//! (hysteresis). Only whole buffers move through the global lists: a full
//! one is published for other workers to steal, an empty one is recycled.
//! So the shared lists are touched once per `WORKBUF_LEN` objects.
//!
//! `put_batch` is the write barrier flush's entry point: it copies a batch of
//! newly grey objects in with one bounds check per buffer instead of one per
//! object.

use parking_lot::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering::*};

/// What a work-buffer entry names and how marking proceeds
/// (`SHADE_DEBUG=mark=object|span`; gc/mark.rs explains both).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum MarkMode {
    /// One entry per grey object, scanned one at a time in the order the
    /// entries come out of the buffers (with a prefetch queue ahead).
    Object,
    /// Small objects are greyed in their span's `grey` bitmap and the span
    /// is queued once; taking it out scans all its grey objects together,
    /// in address order (Go 1.26's "Green Tea"). Large objects and oblets
    /// are still queued one by one. The default.
    #[default]
    Span,
}

/// Objects per work buffer; the buffer is then about 4 KiB.
pub(crate) const WORKBUF_LEN: usize = 510;

pub(crate) struct WorkBuf {
    n: usize,
    obj: [usize; WORKBUF_LEN],
}

impl WorkBuf {
    fn new() -> Box<WorkBuf> {
        Box::new(WorkBuf { n: 0, obj: [0; WORKBUF_LEN] })
    }
}

/// The global lists shared by all workers of one heap. Buffers are boxed so
/// that moving one between a list and a worker moves a pointer, not 4 KiB.
#[allow(clippy::vec_box)]
pub(crate) struct WorkQueues {
    full: Mutex<Vec<Box<WorkBuf>>>,
    empty: Mutex<Vec<Box<WorkBuf>>>,
    /// Number of buffers on `full`, readable without the lock.
    nfull: AtomicUsize,
    /// Bytes marked so far this cycle, as reported by the markers every
    /// few dozen objects (it lags a little): the pacer's measure of the
    /// mark work done (gc/pacer.rs, assists). Reset at mark start.
    pub(crate) marked: AtomicUsize,
    /// How markers of this heap queue grey objects.
    pub(crate) mode: MarkMode,
}

impl WorkQueues {
    pub(crate) fn new(mode: MarkMode) -> WorkQueues {
        WorkQueues {
            mode,
            full: Mutex::new(Vec::new()),
            empty: Mutex::new(Vec::new()),
            nfull: AtomicUsize::new(0),
            marked: AtomicUsize::new(0),
        }
    }

    /// Whether markers queue spans (`MarkMode::Span`).
    #[inline]
    pub(crate) fn span_mode(&self) -> bool {
        self.mode == MarkMode::Span
    }

    /// Whether some buffer of grey objects waits on the global list.
    #[inline]
    pub(crate) fn has_full(&self) -> bool {
        self.nfull.load(SeqCst) > 0
    }

    fn put_full(&self, b: Box<WorkBuf>) {
        debug_assert!(b.n > 0);
        let mut f = self.full.lock();
        f.push(b);
        self.nfull.store(f.len(), SeqCst);
    }

    fn take_full(&self) -> Option<Box<WorkBuf>> {
        if !self.has_full() {
            return None;
        }
        let mut f = self.full.lock();
        let b = f.pop();
        self.nfull.store(f.len(), SeqCst);
        b
    }

    fn take_empty(&self) -> Box<WorkBuf> {
        self.empty.lock().pop().unwrap_or_else(WorkBuf::new)
    }

    fn put_empty(&self, mut b: Box<WorkBuf>) {
        b.n = 0;
        self.empty.lock().push(b);
    }
}

/// One worker's view of the queues. Must be `dispose`d before the worker
/// stops marking so no grey object is stranded in a private buffer.
pub(crate) struct GcWork {
    wbuf1: Box<WorkBuf>,
    wbuf2: Box<WorkBuf>,
}

impl GcWork {
    pub(crate) fn new() -> GcWork {
        GcWork { wbuf1: WorkBuf::new(), wbuf2: WorkBuf::new() }
    }

    /// Makes room in `wbuf1`, swapping with the spare or publishing it.
    #[cold]
    fn make_room(&mut self, q: &WorkQueues) {
        std::mem::swap(&mut self.wbuf1, &mut self.wbuf2);
        if self.wbuf1.n == WORKBUF_LEN {
            let full = std::mem::replace(&mut self.wbuf1, q.take_empty());
            q.put_full(full);
        }
    }

    /// Pushes one grey object.
    #[inline]
    pub(crate) fn put(&mut self, q: &WorkQueues, obj: usize) {
        if self.wbuf1.n == WORKBUF_LEN {
            self.make_room(q);
        }
        let b = &mut *self.wbuf1;
        b.obj[b.n] = obj;
        b.n += 1;
    }

    /// Pushes a batch of grey objects. Returns whether a buffer was published
    /// to the global list (so the caller may wake an idle worker).
    pub(crate) fn put_batch(&mut self, q: &WorkQueues, mut objs: &[usize]) -> bool {
        let mut published = false;
        while !objs.is_empty() {
            if self.wbuf1.n == WORKBUF_LEN {
                published |= self.wbuf2.n == WORKBUF_LEN;
                self.make_room(q);
            }
            let b = &mut *self.wbuf1;
            let k = objs.len().min(WORKBUF_LEN - b.n);
            b.obj[b.n..b.n + k].copy_from_slice(&objs[..k]);
            b.n += k;
            objs = &objs[k..];
        }
        published
    }

    /// Pops a grey object, stealing a full buffer from the global list when
    /// both private buffers are empty.
    #[inline]
    pub(crate) fn try_get(&mut self, q: &WorkQueues) -> Option<usize> {
        if self.wbuf1.n == 0 {
            std::mem::swap(&mut self.wbuf1, &mut self.wbuf2);
            if self.wbuf1.n == 0 {
                let full = q.take_full()?;
                let old = std::mem::replace(&mut self.wbuf1, full);
                q.put_empty(old);
            }
        }
        let b = &mut *self.wbuf1;
        b.n -= 1;
        Some(b.obj[b.n])
    }

    /// Whether this worker holds no grey object.
    pub(crate) fn is_empty(&self) -> bool {
        self.wbuf1.n == 0 && self.wbuf2.n == 0
    }

    /// Shares work with idle workers: publishes the spare buffer if it has
    /// anything, else half of the current one.
    pub(crate) fn balance(&mut self, q: &WorkQueues) {
        if self.wbuf2.n > 0 {
            let b = std::mem::replace(&mut self.wbuf2, q.take_empty());
            q.put_full(b);
        } else if self.wbuf1.n > 4 {
            let half = self.wbuf1.n / 2;
            let mut b = q.take_empty();
            let from = self.wbuf1.n - half;
            b.obj[..half].copy_from_slice(&self.wbuf1.obj[from..self.wbuf1.n]);
            b.n = half;
            self.wbuf1.n = from;
            q.put_full(b);
        }
    }

    /// Publishes everything this worker holds.
    pub(crate) fn dispose(&mut self, q: &WorkQueues) {
        for b in [&mut self.wbuf1, &mut self.wbuf2] {
            if b.n > 0 {
                let full = std::mem::replace(b, q.take_empty());
                q.put_full(full);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_get_roundtrip_through_global_lists() {
        let q = WorkQueues::new(MarkMode::Object);
        let mut a = GcWork::new();
        for i in 1..=5000 {
            a.put(&q, i);
        }
        assert!(q.has_full(), "overflow must publish full buffers");
        a.dispose(&q);
        let mut b = GcWork::new();
        let mut seen = vec![false; 5001];
        while let Some(x) = b.try_get(&q) {
            assert!(!seen[x]);
            seen[x] = true;
        }
        assert!(seen[1..].iter().all(|&s| s), "every pushed object comes back once");
        assert!(b.is_empty() && !q.has_full());
    }

    #[test]
    fn put_batch_spans_buffers() {
        let q = WorkQueues::new(MarkMode::Object);
        let mut w = GcWork::new();
        let objs: Vec<usize> = (1..=3 * WORKBUF_LEN + 7).collect();
        let published = w.put_batch(&q, &objs);
        assert!(published);
        w.dispose(&q);
        let mut r = GcWork::new();
        let mut n = 0;
        while r.try_get(&q).is_some() {
            n += 1;
        }
        assert_eq!(n, objs.len());
    }

    #[test]
    fn balance_shares_half() {
        let q = WorkQueues::new(MarkMode::Object);
        let mut w = GcWork::new();
        for i in 0..100 {
            w.put(&q, i + 1);
        }
        w.balance(&q);
        assert!(q.has_full());
        let mut other = GcWork::new();
        let mut n = 0;
        while other.try_get(&q).is_some() {
            n += 1;
        }
        assert_eq!(n, 50);
    }
}
