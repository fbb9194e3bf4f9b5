// Command go-bench is shade-bench's Go peer (`go`): the shade-bench workloads
// written in Go, run by shade-bench in a child process and reporting in its
// result protocol on stdout:
//
//	@line <result line>
//	@result wall_ns=… cpu_ns=… ops=… checksum=… peak_rss_kb=… start_rss_kb=… gc_cycles=… …
//
// Usage: go-bench <benchmark> [key=value ...]
//
//	go-bench version   (prints the Go version and GC settings)
//
// Benchmarks (ids as in shade-bench) and their options; shade-bench passes
// every size explicitly, the defaults are the sizes:
//
//	binary-trees  depth=21
//	gcbench       stretch=18 long_lived=16 min=4 max=16 array=500000
//	stores-quiet, stores-active, stores-forced
//	              nodes=1000000 stores=20000000 batch=1000 short_lived=1000 seed=42
//	latency       ring=200000 pushes=2000000 size=1024
//	late-mutator  ring=200000 pushes=2000000 size=1024 depth=20 extra=10000
//	write-barrier depth=22 passes=4
//
// Each workload follows its Rust definition in shade-bench/src/workloads/
// (same sizes, order of operations, result lines, checksum, ops, the same
// timed part and metric names), so the checksums agree with the Rust peers'.
//
// The collector runs with its defaults (GOGC=100 unless the environment sets
// GOGC, GOMAXPROCS = CPUs). Measured around the workload only: wall time
// (monotonic clock), CPU time (getrusage(RUSAGE_SELF): user + system of all
// threads, the collector's included), GC figures from runtime.MemStats.
// Peak RSS is the process's VmHWM from /proc/self/status after the run.
//
// GC pauses: Go records one stop-the-world pause per cycle (the sum of its
// sweep-termination and mark-termination pauses) in MemStats.PauseNs, a ring
// of the last 256 cycles. gc_pause_total_ns is the exact total
// (PauseTotalNs); gc_pause_max_ns and gc_pause_p99_ns are over the last 256
// cycles of the run (all of them if the run had at most 256).
package main

import (
	"bufio"
	"fmt"
	"math"
	"math/bits"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// outcome is what a workload returns; timing is measured around it.
type outcome struct {
	ops      uint64
	checksum uint64
	lines    []string
	metrics  []string      // "@metric" lines: "<name>=<value>"
	timed    time.Duration // the timed part, when the workload times only part of its run
}

// opts holds the key=value options.
type opts map[string]uint64

func (o opts) get(k string, def uint64) uint64 {
	if v, ok := o[k]; ok {
		return v
	}
	return def
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: go-bench <benchmark> [key=value ...]")
		os.Exit(2)
	}
	bench := os.Args[1]
	if bench == "version" {
		gogc := os.Getenv("GOGC")
		if gogc == "" {
			gogc = "100 (default)"
		}
		fmt.Printf("%s, GOMAXPROCS %d, GOGC %s\n", runtime.Version(), runtime.GOMAXPROCS(0), gogc)
		return
	}
	o := opts{}
	for _, a := range os.Args[2:] {
		k, v, ok := strings.Cut(a, "=")
		n, err := strconv.ParseUint(v, 10, 64)
		if !ok || err != nil {
			fmt.Fprintf(os.Stderr, "go-bench: bad option %q (expected key=number)\n", a)
			os.Exit(2)
		}
		o[k] = n
	}
	var work func(opts) outcome
	switch bench {
	case "binary-trees":
		work = binaryTrees
	case "gcbench":
		work = gcBench
	case "stores-quiet":
		work = func(o opts) outcome { return stores(o, "quiet") }
	case "stores-active":
		work = func(o opts) outcome { return stores(o, "active") }
	case "stores-forced":
		work = func(o opts) outcome { return stores(o, "forced") }
	case "latency":
		work = latency
	case "late-mutator":
		work = lateMutator
	case "write-barrier":
		work = writeBarrier
	default:
		fmt.Fprintf(os.Stderr, "go-bench: unknown benchmark %q\n", bench)
		os.Exit(2)
	}

	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	startRSS := procStatusKB("VmRSS")
	cpu0 := cpuNanos()
	t0 := time.Now()
	out := work(o)
	wall := time.Since(t0)
	cpu := cpuNanos() - cpu0
	runtime.ReadMemStats(&ms1)
	peakRSS := procStatusKB("VmHWM")

	cycles := ms1.NumGC - ms0.NumGC
	var pauses []uint64
	from := ms0.NumGC
	if ms1.NumGC-from > uint32(len(ms1.PauseNs)) {
		from = ms1.NumGC - uint32(len(ms1.PauseNs))
	}
	for k := from; k < ms1.NumGC; k++ {
		pauses = append(pauses, ms1.PauseNs[k%uint32(len(ms1.PauseNs))])
	}
	sort.Slice(pauses, func(i, j int) bool { return pauses[i] < pauses[j] })
	var pmax, p99 uint64
	if len(pauses) > 0 {
		pmax = pauses[len(pauses)-1]
		p99 = pauses[percentileIndex(len(pauses), 990)]
	}
	if bench == "latency" {
		out.metrics = append(out.metrics, fmt.Sprintf("GC max pause (µs)=%g", float64(pmax)/1e3))
	}

	w := bufio.NewWriter(os.Stdout)
	for _, l := range out.lines {
		fmt.Fprintf(w, "@line %s\n", l)
	}
	for _, m := range out.metrics {
		fmt.Fprintf(w, "@metric %s\n", m)
	}
	fmt.Fprintf(w, "@result wall_ns=%d cpu_ns=%d ops=%d checksum=%d", wall.Nanoseconds(), cpu, out.ops, out.checksum)
	if peakRSS > 0 {
		fmt.Fprintf(w, " peak_rss_kb=%d", peakRSS)
	}
	if startRSS > 0 {
		fmt.Fprintf(w, " start_rss_kb=%d", startRSS)
	}
	if out.timed > 0 {
		fmt.Fprintf(w, " timed_ns=%d", out.timed.Nanoseconds())
	}
	fmt.Fprintf(w, " gc_cycles=%d gc_pause_total_ns=%d gc_pause_max_ns=%d gc_pause_p99_ns=%d gc_allocated_bytes=%d",
		cycles, ms1.PauseTotalNs-ms0.PauseTotalNs, pmax, p99, ms1.TotalAlloc-ms0.TotalAlloc)
	fmt.Fprintln(w)
	if err := w.Flush(); err != nil {
		os.Exit(1)
	}
}

// percentileIndex is the index of the per-mille p percentile in a sorted
// slice of n > 0 values: min(n-1, n*p/1000).
func percentileIndex(n int, p int) int {
	i := n * p / 1000
	if i > n-1 {
		i = n - 1
	}
	return i
}

// cpuNanos is the CPU time (user + system, all threads) used so far.
func cpuNanos() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// procStatusKB reads a kB field of /proc/self/status (0 if unavailable).
func procStatusKB(field string) uint64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, field+":") {
			rest := l[len(field)+1:]
			n, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

// forceGC runs runtime.GC() back to back in a goroutine until the returned
// function is called (which waits for the goroutine to finish).
func forceGC() (stop func()) {
	var done uint32
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for atomic.LoadUint32(&done) == 0 {
			runtime.GC()
		}
	}()
	return func() {
		atomic.StoreUint32(&done, 1)
		wg.Wait()
	}
}

// ----- binary-trees -----------------------------------------------------------

type node struct{ left, right *node }

func bottomUp(d uint32) *node {
	if d == 0 {
		return &node{}
	}
	return &node{bottomUp(d - 1), bottomUp(d - 1)}
}

func (n *node) check() uint64 {
	if n.left == nil {
		return 1
	}
	return 1 + n.left.check() + n.right.check()
}

func treeNodes(d uint32) uint64 { return (uint64(1) << (d + 1)) - 1 }

// binaryTrees is the benchmarks-game program, single-threaded: N =
// max(depth, 6); stretch tree of depth N+1; long-lived tree of depth N; for
// d = 4, 6, …, N: 2^(N-d+4) trees of depth d. checksum = sum of all checks.
func binaryTrees(o opts) outcome {
	const minDepth = 4
	n := uint32(o.get("depth", 21))
	if n < minDepth+2 {
		n = minDepth + 2
	}
	var out outcome
	add := func(line string, check uint64) {
		out.lines = append(out.lines, line)
		out.checksum += check
	}
	{
		c := bottomUp(n + 1).check()
		add(fmt.Sprintf("stretch tree of depth %d\t check: %d", n+1, c), c)
	}
	out.ops = treeNodes(n+1) + treeNodes(n)
	longLived := bottomUp(n)
	for d := uint32(minDepth); d <= n; d += 2 {
		iters := uint64(1) << (n - d + minDepth)
		var sum uint64
		for i := uint64(0); i < iters; i++ {
			sum += bottomUp(d).check()
		}
		out.ops += iters * treeNodes(d)
		add(fmt.Sprintf("%d\t trees of depth %d\t check: %d", iters, d, sum), sum)
	}
	c := longLived.check()
	add(fmt.Sprintf("long lived tree of depth %d\t check: %d", n, c), c)
	return out
}

// ----- gcbench ---------------------------------------------------------------

// gcNode is GCBench's Node: two pointers and two ints.
type gcNode struct {
	left, right *gcNode
	i, j        int32
}

func gcTreeSize(d uint64) uint64 { return (uint64(1) << (d + 1)) - 1 }

// populate gives n two new children, then populates them (top down).
func populate(d uint64, n *gcNode) {
	if d == 0 {
		return
	}
	n.left = &gcNode{}
	n.right = &gcNode{}
	populate(d-1, n.left)
	populate(d-1, n.right)
}

// makeTree builds a tree bottom up.
func makeTree(d uint64) *gcNode {
	if d == 0 {
		return &gcNode{}
	}
	return &gcNode{left: makeTree(d - 1), right: makeTree(d - 1)}
}

func (n *gcNode) count() uint64 {
	if n == nil {
		return 0
	}
	return 1 + n.left.count() + n.right.count()
}

// rustExp formats x like Rust's `{:e}` (shortest digits, "1e-3", "1.5e2").
func rustExp(x float64) string {
	s := strconv.FormatFloat(x, 'e', -1, 64)
	mant, exp, _ := strings.Cut(s, "e")
	e, _ := strconv.Atoi(exp)
	return fmt.Sprintf("%se%d", mant, e)
}

// gcBench is Hans Boehm's GCBench as shade-bench's gcbench defines it: a
// stretch tree, a long-lived tree (top down) and array of doubles (first
// half 1/i), then for d = min, min+2, …, max NumIters(d) = 2 ×
// TreeSize(stretch) / TreeSize(d) trees top down and as many bottom up. The
// stretch tree, the last tree of each kind and depth and the long-lived tree
// are counted; the lines, checksum (the counts plus the bits of array[1000])
// and ops equal the Rust peers'. Metrics: time of the top-down and bottom-up
// phases.
func gcBench(o opts) outcome {
	stretchDepth := o.get("stretch", 18)
	longLivedDepth := o.get("long_lived", 16)
	minDepth := o.get("min", 4)
	maxDepth := o.get("max", 16)
	arraySize := o.get("array", 500000)
	var out outcome
	add := func(c uint64) { out.checksum += c }

	c := makeTree(stretchDepth).count()
	out.lines = append(out.lines, fmt.Sprintf("stretch tree of depth %d: check %d", stretchDepth, c))
	add(c)
	longLived := &gcNode{}
	populate(longLivedDepth, longLived)
	array := make([]float64, arraySize)
	for i := uint64(0); i < arraySize/2; i++ {
		array[i] = 1.0 / float64(i)
	}
	out.ops = gcTreeSize(stretchDepth) + gcTreeSize(longLivedDepth)
	var topDown, bottomUp time.Duration
	for d := minDepth; d <= maxDepth; d += 2 {
		iters := 2 * gcTreeSize(stretchDepth) / gcTreeSize(d)
		t0 := time.Now()
		var td, bu uint64
		for i := uint64(0); i < iters; i++ {
			t := &gcNode{}
			populate(d, t)
			if i+1 == iters {
				td = t.count()
			}
		}
		topDown += time.Since(t0)
		t0 = time.Now()
		for i := uint64(0); i < iters; i++ {
			t := makeTree(d)
			if i+1 == iters {
				bu = t.count()
			}
		}
		bottomUp += time.Since(t0)
		out.ops += 2 * iters * gcTreeSize(d)
		out.lines = append(out.lines,
			fmt.Sprintf("%d trees of depth %d: top-down check %d, bottom-up check %d", iters, d, td, bu))
		add(td + bu)
	}
	ll := longLived.count()
	var a1000 float64
	if len(array) > 1000 {
		a1000 = array[1000]
	}
	out.lines = append(out.lines, fmt.Sprintf("long-lived tree of depth %d: check %d; array of %d: array[1000] = %s",
		longLivedDepth, ll, arraySize, rustExp(a1000)))
	add(ll + math.Float64bits(a1000))
	out.metrics = []string{
		fmt.Sprintf("top-down (s)=%g", topDown.Seconds()),
		fmt.Sprintf("bottom-up (s)=%g", bottomUp.Seconds()),
	}
	return out
}

// ----- stores ----------------------------------------------------------------

// storeNode is a node of the stores workload's live graph.
type storeNode struct {
	left, right *storeNode
	id          uint64
}

// splitmix64 is the PRNG every peer uses.
type splitmix64 uint64

func (s *splitmix64) next() uint64 {
	*s += 0x9e3779b97f4a7c15
	z := uint64(*s)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// below is a number in 0..n (multiply-shift reduction, as the Rust peers).
func (s *splitmix64) below(n uint64) uint64 {
	hi, _ := bits.Mul64(s.next(), n)
	return hi
}

var storeSink *storeNode

// numGC is the number of completed GC cycles (reads MemStats: stops the
// world briefly; only called outside timed parts).
func numGC() uint32 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.NumGC
}

// stores as shade-bench defines it: `nodes` live nodes (node i: id i, right
// = node i+1 mod nodes, left nil); `stores` stores node[i].left = node[j] in
// batches of `batch`, each batch's (i, j) pairs drawn from splitmix64 (seed
// `seed`, multiply-shift reduction) before its timed store loop; only the
// store loops are timed. A collection settles the heap first. quiet: GC off
// (debug.SetGCPercent(-1)) during the store phase; active: `short_lived`
// nodes allocated (untimed) before each batch, so the collector cycles;
// forced: a goroutine runs runtime.GC() back to back. checksum: FNV-style
// fold of the left targets (id + 1, 0 for nil) over the nodes.
func stores(o opts, variant string) outcome {
	n := o.get("nodes", 1000000)
	total := o.get("stores", 20000000)
	batch := o.get("batch", 1000)
	shortLived := o.get("short_lived", 1000)
	rng := splitmix64(o.get("seed", 42))
	nodes := make([]*storeNode, n)
	for i := range nodes {
		nodes[i] = &storeNode{id: uint64(i)}
	}
	for i := range nodes {
		nodes[i].right = nodes[(uint64(i)+1)%n]
	}
	idx := make([][2]uint32, 0, batch)
	runtime.GC()
	gc0 := numGC()
	var stop func()
	switch variant {
	case "quiet":
		old := debug.SetGCPercent(-1)
		defer debug.SetGCPercent(old)
	case "forced":
		stop = forceGC()
	}
	var timed time.Duration
	for left := total; left > 0; {
		k := batch
		if left < k {
			k = left
		}
		left -= k
		idx = idx[:0]
		for q := uint64(0); q < k; q++ {
			i := rng.below(n)
			j := rng.below(n)
			idx = append(idx, [2]uint32{uint32(i), uint32(j)})
		}
		if variant == "active" {
			for q := uint64(0); q < shortLived; q++ {
				storeSink = &storeNode{id: q}
			}
		}
		t0 := time.Now()
		for _, p := range idx {
			nodes[p[0]].left = nodes[p[1]]
		}
		timed += time.Since(t0)
	}
	if stop != nil {
		stop()
	}
	cycles := numGC() - gc0
	storeSink = nil
	var sum uint64
	for _, x := range nodes {
		var v uint64
		if x.left != nil {
			v = x.left.id + 1
		}
		sum = (sum ^ v) * 0x00000100000001B3
	}
	return outcome{ops: total, checksum: sum, timed: timed,
		metrics: []string{fmt.Sprintf("cycles during stores=%d", cycles)}}
}

// ----- latency ---------------------------------------------------------------

// latency as shade-bench defines it: a ring of `ring` messages of `size`
// bytes, message n filled with byte(n); the ring is filled (untimed), then
// `pushes` messages n = ring, ring+1, … replace ring[n % ring], every push
// timed on its own. Metrics as the Rust peers: mean, p99, p99.9 and max push
// time (µs, rank ceil(q·n)), pushes over 1 ms, and the collector's longest
// pause.
func latency(o opts) outcome {
	ring, lat, timed := runRing(o)
	return outcome{ops: uint64(len(lat)), checksum: ringChecksum(ring), timed: timed, metrics: latencyMetrics(lat)}
}

// runRing fills a ring of `ring` messages of `size` bytes (untimed), then
// times `pushes` pushes one by one; returns the ring and the sorted push
// times (ns).
func runRing(o opts) ([][]byte, []uint32, time.Duration) {
	ringLen := o.get("ring", 200000)
	pushes := o.get("pushes", 2000000)
	size := o.get("size", 1024)
	ring := make([][]byte, ringLen)
	for n := uint64(0); n < ringLen; n++ {
		ring[n] = message(n, size)
	}
	lat := make([]uint32, pushes)
	start := time.Now()
	for k := uint64(0); k < pushes; k++ {
		n := ringLen + k
		t0 := time.Now()
		ring[n%ringLen] = message(n, size)
		d := time.Since(t0)
		if d > math.MaxUint32 {
			d = math.MaxUint32
		}
		lat[k] = uint32(d)
	}
	timed := time.Since(start)
	sort.Slice(lat, func(a, b int) bool { return lat[a] < lat[b] })
	return ring, lat, timed
}

// ringChecksum is the Rust peers' fold over a ring's entries.
func ringChecksum(ring [][]byte) uint64 {
	var sum uint64
	for i, m := range ring {
		var first, last uint64
		if len(m) > 0 {
			first, last = uint64(m[0]), uint64(m[len(m)-1])
		}
		entry := uint64(i)<<16 | first<<8 | last
		sum += (entry * 0x9E3779B97F4A7C15) ^ uint64(len(m))
	}
	return sum
}

// lateMutator as shade-bench defines it (workloads/late.rs): goroutine A
// holds `extra` small objects (the Rust peer's `Local` roots, values
// 0..extra) and runs the latency ring; goroutine B, meanwhile, builds a
// binary tree of depth `depth` and drops it, again, until A is done. Go
// preempts B asynchronously, so B is never late to a safepoint; what A
// sees is Go's collector and three runnable threads on this machine's
// CPUs. Metrics as the Rust peer's that Go has: p99.9 and max push time
// (µs), B's trees, cycles.
func lateMutator(o opts) outcome {
	depth := uint32(o.get("depth", 20))
	extraN := o.get("extra", 10000)
	var done atomic.Bool
	var trees atomic.Uint64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			t := bottomUp(depth)
			runtime.KeepAlive(t)
			trees.Add(1)
			if done.Load() {
				return
			}
		}
	}()
	extra := make([]*uint64, extraN)
	for i := range extra {
		v := uint64(i)
		extra[i] = &v
	}
	gc0 := numGC()
	ring, lat, timed := runRing(o)
	done.Store(true)
	wg.Wait()
	cycles := numGC() - gc0
	sum := ringChecksum(ring)
	for _, p := range extra {
		sum += *p
	}
	m := latencyMetrics(lat)
	return outcome{ops: uint64(len(lat)), checksum: sum, timed: timed, metrics: []string{
		m[2], m[3],
		fmt.Sprintf("B trees built=%d", trees.Load()),
		fmt.Sprintf("cycles=%d", cycles),
	}}
}

// message allocates a message of `size` bytes filled with byte(n) (the fill
// doubles with copy, i.e. memmove, like a memset).
func message(n, size uint64) []byte {
	m := make([]byte, size)
	if size > 0 {
		m[0] = byte(n)
		for f := 1; f < len(m); f *= 2 {
			copy(m[f:], m[:f])
		}
	}
	return m
}

// latencyMetrics are the Rust peers' latency metrics of the sorted push
// times (ns).
func latencyMetrics(v []uint32) []string {
	n := len(v)
	rank := func(q float64) float64 {
		if n == 0 {
			return 0
		}
		i := int(math.Ceil(q * float64(n)))
		if i < 1 {
			i = 1
		}
		if i > n {
			i = n
		}
		return float64(v[i-1]) / 1e3
	}
	var total uint64
	over := 0
	for _, x := range v {
		total += uint64(x)
		if x > 1000000 {
			over++
		}
	}
	mean := 0.0
	if n > 0 {
		mean = float64(total) / float64(n) / 1e3
	}
	return []string{
		fmt.Sprintf("mean push (µs)=%g", mean),
		fmt.Sprintf("p99 push (µs)=%g", rank(0.99)),
		fmt.Sprintf("p99.9 push (µs)=%g", rank(0.999)),
		fmt.Sprintf("max push (µs)=%g", rank(1.0)),
		fmt.Sprintf("pushes > 1 ms=%d", over),
	}
}

// ----- write-barrier ---------------------------------------------------------

// wbNode is the node of Go's BenchmarkWriteBarrier.
type wbNode struct{ l, r *wbNode }

func mkTree(depth uint64) *wbNode {
	if depth == 0 {
		return &wbNode{}
	}
	return &wbNode{mkTree(depth - 1), mkTree(depth - 1)}
}

func (n *wbNode) count() uint64 {
	if n == nil {
		return 0
	}
	return 1 + n.l.count() + n.r.count()
}

// reverse swaps the children of n and of all its descendants (two stores per
// node, leaves included, as the Rust peers); returns the stores made.
func (n *wbNode) reverse() uint64 {
	l, r := n.l, n.r
	n.l, n.r = r, l
	stores := uint64(2)
	if l != nil {
		stores += l.reverse()
	}
	if r != nil {
		stores += r.reverse()
	}
	return stores
}

// writeBarrier has the shape of Go's runtime BenchmarkWriteBarrier, sized as
// shade-bench's write-barrier: a tree of depth `depth` (2^(depth+1) - 1
// nodes), a collection to settle, one untimed warm-up reversal, then
// runtime.GC() back to back in a goroutine while the tree is reversed in
// place `passes` times (timed). ops = stores; checksum = nodes × φ64 ^ stores.
func writeBarrier(o opts) outcome {
	depth := o.get("depth", 22)
	passes := o.get("passes", 4)
	root := mkTree(depth)
	runtime.GC()
	root.reverse()
	gc0 := numGC()
	stop := forceGC()
	var timed time.Duration
	var stores uint64
	for p := uint64(0); p < passes; p++ {
		t0 := time.Now()
		stores += root.reverse()
		timed += time.Since(t0)
	}
	stop()
	cycles := numGC() - gc0
	return outcome{ops: stores, checksum: root.count()*0x9E3779B97F4A7C15 ^ stores, timed: timed,
		metrics: []string{fmt.Sprintf("cycles while storing=%d", cycles)}}
}
