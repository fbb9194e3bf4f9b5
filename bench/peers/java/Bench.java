// shade-bench's Java peers (`java-g1`, `java-zgc`): the shade-bench workloads
// in Java, run by shade-bench in a child JVM and reporting in its result
// protocol on stdout:
//
//   @line <result line>
//   @metric <name>=<value>
//   @result wall_ns=... cpu_ns=... ops=... checksum=... peak_rss_kb=... start_rss_kb=... [timed_ns=...] gc_cycles=... ...
//
// Usage: java [JVM flags] -cp <dir> Bench <benchmark> [key=value ...] [gclog=<path>]
//        java [JVM flags] -cp <dir> Bench version   (prints the JVM, its heap limit and collectors)
//
// Benchmarks (ids as in shade-bench) and their options; shade-bench passes
// every size explicitly, the defaults are the sizes:
//
//   binary-trees  depth=21
//   gcbench       stretch=18 long_lived=16 min=4 max=16 array=500000
//   stores-quiet, stores-active, stores-forced
//                 nodes=1000000 stores=20000000 batch=1000 short_lived=1000 seed=42
//   latency       ring=200000 pushes=2000000 size=1024
//   write-barrier depth=22 passes=4
//
// Each workload follows its Rust definition in shade-bench/src/workloads/
// (same sizes, order of operations, result lines, checksum, ops, the same
// timed part and metric names), so the checksums agree with the Rust peers'.
//
// The collector is chosen by shade-bench on the command line (-XX:+UseG1GC
// or -XX:+UseZGC). Measured around the workload only: wall time
// (System.nanoTime), CPU time (OperatingSystemMXBean.getProcessCpuTime: all
// threads, GC and JIT compiler threads included; on Linux JDK 17 reads it
// from times(), so it has a 10 ms granularity), peak RSS (the process's
// VmHWM from /proc/self/status after the run). JIT compilation happens
// inside the measured run (no separate warm-up), as for a program run once.
//
// GC figures come from the JVM's own GC log: shade-bench starts the JVM with
// -Xlog:gc,gc+phases:file=<path> and passes gclog=<path>; after the run this
// program reads the lines the run added to the log. Every line
// "GC(<n>) Pause <kind> ... <t>ms" is one stop-the-world pause (G1: Pause
// Young, Pause Remark, Pause Cleanup, Pause Full; ZGC: Pause Mark Start,
// Pause Mark End, Pause Relocate Start); gc_cycles counts the distinct GC(<n>)
// ids in the run's lines. The logged pause is the collector's pause itself,
// without the time to reach the safepoint.

import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

public final class Bench {
    /** What a workload returns; timing is measured around it. */
    static final class Outcome {
        long ops;
        long checksum;
        /** The timed part (ns), when the workload times only part of its run; -1: the whole run. */
        long timed = -1;
        final List<String> lines = new ArrayList<>();
        /** "@metric" lines: "<name>=<value>". */
        final List<String> metrics = new ArrayList<>();
    }

    interface Workload {
        Outcome run(Map<String, String> o, GcLog log) throws Exception;
    }

    static long opt(Map<String, String> o, String k, long def) {
        String v = o.get(k);
        return v == null ? def : Long.parseLong(v);
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 1) {
            System.err.println("usage: Bench <benchmark> [key=value ...]");
            System.exit(2);
        }
        Map<String, String> o = new HashMap<>();
        for (int i = 1; i < args.length; i++) {
            int eq = args[i].indexOf('=');
            if (eq < 0) {
                System.err.println("Bench: bad option " + args[i] + " (expected key=value)");
                System.exit(2);
            }
            o.put(args[i].substring(0, eq), args[i].substring(eq + 1));
        }
        if (args[0].equals("version")) {
            List<String> gcs = new ArrayList<>();
            for (java.lang.management.GarbageCollectorMXBean b : ManagementFactory.getGarbageCollectorMXBeans()) {
                gcs.add(b.getName());
            }
            System.out.println("Java " + Runtime.version() + " (" + System.getProperty("java.vm.name") + "), "
                    + Runtime.getRuntime().availableProcessors() + " CPUs, max heap "
                    + Runtime.getRuntime().maxMemory() / (1 << 20) + " MiB, collectors " + String.join(", ", gcs));
            return;
        }
        Workload w;
        switch (args[0]) {
            case "binary-trees": w = (x, log) -> binaryTrees(x); break;
            case "gcbench": w = (x, log) -> gcBench(x); break;
            case "stores-quiet": w = (x, log) -> stores(x, "quiet", log); break;
            case "stores-active": w = (x, log) -> stores(x, "active", log); break;
            case "stores-forced": w = (x, log) -> stores(x, "forced", log); break;
            case "latency": w = (x, log) -> latency(x); break;
            case "write-barrier": w = Bench::writeBarrier; break;
            default:
                System.err.println("Bench: unknown benchmark " + args[0]);
                System.exit(2);
                return;
        }
        GcLog log = new GcLog(o.remove("gclog"));
        com.sun.management.OperatingSystemMXBean os =
                (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
        long log0 = log.offset();
        long startRss = procStatusKb("VmRSS");
        long cpu0 = os.getProcessCpuTime();
        long t0 = System.nanoTime();
        Outcome out = w.run(o, log);
        long wall = System.nanoTime() - t0;
        long cpu = os.getProcessCpuTime() - cpu0;
        long peakRss = procStatusKb("VmHWM");
        GcLog.Figures gc = log.since(log0);
        if (gc != null && args[0].equals("latency")) {
            out.metrics.add("GC max pause (µs)=" + gc.max / 1e3);
        }

        StringBuilder sb = new StringBuilder();
        for (String l : out.lines) {
            sb.append("@line ").append(l).append('\n');
        }
        for (String m : out.metrics) {
            sb.append("@metric ").append(m).append('\n');
        }
        sb.append("@result wall_ns=").append(wall).append(" cpu_ns=").append(cpu);
        sb.append(" ops=").append(Long.toUnsignedString(out.ops));
        sb.append(" checksum=").append(Long.toUnsignedString(out.checksum));
        if (peakRss > 0) sb.append(" peak_rss_kb=").append(peakRss);
        if (startRss > 0) sb.append(" start_rss_kb=").append(startRss);
        if (out.timed >= 0) sb.append(" timed_ns=").append(out.timed);
        if (gc != null) {
            sb.append(" gc_cycles=").append(gc.cycles).append(" gc_pause_total_ns=").append(gc.total);
            sb.append(" gc_pause_max_ns=").append(gc.max).append(" gc_pause_p99_ns=").append(gc.p99);
            sb.append(" gc_pauses=").append(gc.pauses);
        }
        System.out.println(sb);
        System.out.flush();
    }

    static long procStatusKb(String field) {
        try {
            for (String l : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (l.startsWith(field + ":")) {
                    return Long.parseLong(l.substring(field.length() + 1).replace("kB", "").trim());
                }
            }
        } catch (IOException | NumberFormatException e) {
            // not on Linux: no figure
        }
        return 0;
    }

    /** Index of the per-mille p percentile of n > 0 sorted values: min(n-1, n*p/1000). */
    static int percentileIndex(int n, int p) {
        return (int) Math.min(n - 1, (long) n * p / 1000);
    }

    /** The JVM's GC log (-Xlog:gc,gc+phases:file=...), read back by this process. */
    static final class GcLog {
        static final Pattern PAUSE = Pattern.compile("GC\\((\\d+)\\) Pause .* (\\d+(?:\\.\\d+)?)ms\\s*$");
        static final Pattern GC_ID = Pattern.compile("GC\\((\\d+)\\)");

        /** GC figures of a stretch of the log. */
        static final class Figures {
            long cycles, total, max, p99, pauses;
        }

        final String path;

        GcLog(String path) {
            this.path = path;
        }

        /** The log's current length (0 without a log). */
        long offset() throws IOException {
            return path == null ? 0 : Files.size(Path.of(path));
        }

        /** Cycles (distinct GC ids) logged since offset {@code from}; empty without a log. */
        OptionalLong cyclesSince(long from) throws IOException {
            Figures f = since(from);
            return f == null ? OptionalLong.empty() : OptionalLong.of(f.cycles);
        }

        /** The figures of the lines written since offset {@code from}; null without a log. */
        Figures since(long from) throws IOException {
            if (path == null) return null;
            byte[] bytes;
            try (RandomAccessFile f = new RandomAccessFile(path, "r")) {
                bytes = new byte[(int) Math.max(0, f.length() - from)];
                f.seek(from);
                f.readFully(bytes);
            }
            Set<String> ids = new HashSet<>();
            List<Long> pauses = new ArrayList<>();
            for (String l : new String(bytes, StandardCharsets.UTF_8).split("\n")) {
                Matcher id = GC_ID.matcher(l);
                if (id.find()) ids.add(id.group(1));
                Matcher m = PAUSE.matcher(l);
                if (m.find()) pauses.add(Math.round(Double.parseDouble(m.group(2)) * 1e6));
            }
            long[] p = pauses.stream().mapToLong(Long::longValue).sorted().toArray();
            Figures r = new Figures();
            r.cycles = ids.size();
            r.pauses = p.length;
            r.total = Arrays.stream(p).sum();
            r.max = p.length == 0 ? 0 : p[p.length - 1];
            r.p99 = p.length == 0 ? 0 : p[percentileIndex(p.length, 990)];
            return r;
        }
    }

    /** Runs System.gc() back to back in a thread until stopped. */
    static final class Forcer extends Thread {
        volatile boolean stop;

        Forcer() {
            setDaemon(true);
            start();
        }

        @Override
        public void run() {
            while (!stop) {
                System.gc();
            }
        }

        void finish() throws InterruptedException {
            stop = true;
            join();
        }
    }

    // ----- binary-trees ---------------------------------------------------------

    static final class Node {
        final Node left, right;

        Node(Node left, Node right) {
            this.left = left;
            this.right = right;
        }

        long check() {
            return left == null ? 1 : 1 + left.check() + right.check();
        }
    }

    static Node bottomUp(int d) {
        return d == 0 ? new Node(null, null) : new Node(bottomUp(d - 1), bottomUp(d - 1));
    }

    static long treeNodes(int d) {
        return (1L << (d + 1)) - 1;
    }

    /** The benchmarks-game program, single-threaded; checksum = sum of all checks. */
    static Outcome binaryTrees(Map<String, String> o) {
        final int minDepth = 4;
        int n = Math.max((int) opt(o, "depth", 21), minDepth + 2);
        Outcome out = new Outcome();
        long c = bottomUp(n + 1).check();
        out.lines.add("stretch tree of depth " + (n + 1) + "\t check: " + c);
        out.checksum += c;
        out.ops = treeNodes(n + 1) + treeNodes(n);
        Node longLived = bottomUp(n);
        for (int d = minDepth; d <= n; d += 2) {
            long iters = 1L << (n - d + minDepth);
            long sum = 0;
            for (long i = 0; i < iters; i++) {
                sum += bottomUp(d).check();
            }
            out.ops += iters * treeNodes(d);
            out.lines.add(iters + "\t trees of depth " + d + "\t check: " + sum);
            out.checksum += sum;
        }
        c = longLived.check();
        out.lines.add("long lived tree of depth " + n + "\t check: " + c);
        out.checksum += c;
        return out;
    }

    // ----- gcbench --------------------------------------------------------------

    /** GCBench's Node: two pointers and two ints. */
    static final class GcNode {
        GcNode left, right;
        int i, j;

        GcNode() {}

        GcNode(GcNode l, GcNode r) {
            left = l;
            right = r;
        }

        static long count(GcNode n) {
            return n == null ? 0 : 1 + count(n.left) + count(n.right);
        }
    }

    static long treeSize(long d) {
        return (1L << (d + 1)) - 1;
    }

    /** GCBench's Populate: gives n two new children, then populates them. */
    static void populate(long d, GcNode n) {
        if (d <= 0) return;
        n.left = new GcNode();
        n.right = new GcNode();
        populate(d - 1, n.left);
        populate(d - 1, n.right);
    }

    /** GCBench's MakeTree: children first. */
    static GcNode makeTree(long d) {
        return d <= 0 ? new GcNode() : new GcNode(makeTree(d - 1), makeTree(d - 1));
    }

    /** Formats x like Rust's `{:e}`: shortest digits, "1e-3", "1.5e2", "0e0". */
    static String rustExp(double x) {
        if (x == 0) return (1 / x < 0 ? "-" : "") + "0e0";
        java.math.BigDecimal b = new java.math.BigDecimal(Double.toString(x)).stripTrailingZeros();
        String digits = b.unscaledValue().abs().toString();
        int exp = digits.length() - 1 - b.scale();
        String mant = digits.length() == 1 ? digits : digits.charAt(0) + "." + digits.substring(1);
        return (x < 0 ? "-" : "") + mant + "e" + exp;
    }

    /**
     * Boehm's GCBench as shade-bench's gcbench defines it (see its Rust source): the stretch tree, the last tree of
     * each kind and depth and the long-lived tree are counted; checksum = the counts plus the bits of array[1000].
     */
    static Outcome gcBench(Map<String, String> o) {
        long stretchDepth = opt(o, "stretch", 18), longLivedDepth = opt(o, "long_lived", 16);
        long minDepth = opt(o, "min", 4), maxDepth = opt(o, "max", 16);
        int arraySize = (int) opt(o, "array", 500000);
        Outcome out = new Outcome();
        long c = GcNode.count(makeTree(stretchDepth));
        out.lines.add("stretch tree of depth " + stretchDepth + ": check " + c);
        out.checksum += c;
        GcNode longLived = new GcNode();
        populate(longLivedDepth, longLived);
        double[] array = new double[arraySize];
        for (int i = 0; i < arraySize / 2; i++) {
            array[i] = 1.0 / i;
        }
        out.ops = treeSize(stretchDepth) + treeSize(longLivedDepth);
        long topDown = 0, bottomUp = 0;
        for (long d = minDepth; d <= maxDepth; d += 2) {
            long iters = 2 * treeSize(stretchDepth) / treeSize(d);
            long td = 0, bu = 0;
            long t0 = System.nanoTime();
            for (long i = 0; i < iters; i++) {
                GcNode t = new GcNode();
                populate(d, t);
                if (i + 1 == iters) td = GcNode.count(t);
            }
            topDown += System.nanoTime() - t0;
            t0 = System.nanoTime();
            for (long i = 0; i < iters; i++) {
                GcNode t = makeTree(d);
                if (i + 1 == iters) bu = GcNode.count(t);
            }
            bottomUp += System.nanoTime() - t0;
            out.ops += 2 * iters * treeSize(d);
            out.lines.add(iters + " trees of depth " + d + ": top-down check " + td + ", bottom-up check " + bu);
            out.checksum += td + bu;
        }
        long ll = GcNode.count(longLived);
        double a1000 = array.length > 1000 ? array[1000] : 0.0;
        out.lines.add("long-lived tree of depth " + longLivedDepth + ": check " + ll + "; array of " + arraySize
                + ": array[1000] = " + rustExp(a1000));
        out.checksum += ll + Double.doubleToRawLongBits(a1000);
        out.metrics.add("top-down (s)=" + topDown / 1e9);
        out.metrics.add("bottom-up (s)=" + bottomUp / 1e9);
        return out;
    }

    // ----- stores ---------------------------------------------------------------

    static final class StoreNode {
        StoreNode left, right;
        final long id;

        StoreNode(long id) {
            this.id = id;
        }
    }

    /** splitmix64, the PRNG every peer uses. */
    static final class SplitMix64 {
        long s;

        SplitMix64(long seed) {
            s = seed;
        }

        long next() {
            s += 0x9e3779b97f4a7c15L;
            long z = s;
            z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
            z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
            return z ^ (z >>> 31);
        }

        /** A number in 0..n (multiply-shift reduction: the high 64 bits of next() * n, unsigned). */
        long below(long n) {
            long x = next();
            return Math.multiplyHigh(x, n) + ((x >> 63) & n) + ((n >> 63) & x);
        }
    }

    static volatile StoreNode storeSink;

    /**
     * stores as shade-bench defines it (see its Rust source): only the store loops are timed; a collection
     * (System.gc()) settles the heap first. quiet: nothing else allocates (the JVM cannot switch its collector
     * off, but without allocation it does not collect); active: `short_lived` nodes allocated (untimed) before each
     * batch; forced: a thread runs System.gc() back to back.
     */
    static Outcome stores(Map<String, String> o, String variant, GcLog log) throws Exception {
        int n = (int) opt(o, "nodes", 1000000);
        long total = opt(o, "stores", 20000000);
        int batch = (int) opt(o, "batch", 1000);
        long shortLived = opt(o, "short_lived", 1000);
        SplitMix64 rng = new SplitMix64(opt(o, "seed", 42));
        StoreNode[] nodes = new StoreNode[n];
        for (int i = 0; i < n; i++) {
            nodes[i] = new StoreNode(i);
        }
        for (int i = 0; i < n; i++) {
            nodes[i].right = nodes[(i + 1) % n];
        }
        int[] is = new int[batch], js = new int[batch];
        System.gc();
        long log0 = log.offset();
        boolean active = variant.equals("active");
        Forcer forcer = variant.equals("forced") ? new Forcer() : null;
        long timed = 0;
        for (long left = total; left > 0; ) {
            int k = (int) Math.min(batch, left);
            left -= k;
            for (int q = 0; q < k; q++) {
                is[q] = (int) rng.below(n);
                js[q] = (int) rng.below(n);
            }
            if (active) {
                for (long q = 0; q < shortLived; q++) {
                    storeSink = new StoreNode(q);
                }
            }
            long t0 = System.nanoTime();
            for (int q = 0; q < k; q++) {
                nodes[is[q]].left = nodes[js[q]];
            }
            timed += System.nanoTime() - t0;
        }
        if (forcer != null) forcer.finish();
        storeSink = null;
        long sum = 0;
        for (StoreNode x : nodes) {
            long v = x.left == null ? 0 : x.left.id + 1;
            sum = (sum ^ v) * 0x00000100000001B3L;
        }
        Outcome out = new Outcome();
        out.ops = total;
        out.checksum = sum;
        out.timed = timed;
        log.cyclesSince(log0).ifPresent(c -> out.metrics.add("cycles during stores=" + c));
        return out;
    }

    // ----- latency --------------------------------------------------------------

    /** latency as shade-bench defines it (see its Rust source): message n is `size` bytes of (byte) n. */
    static Outcome latency(Map<String, String> o) {
        int ringLen = (int) opt(o, "ring", 200000);
        int pushes = (int) opt(o, "pushes", 2000000);
        int size = (int) opt(o, "size", 1024);
        byte[][] ring = new byte[ringLen][];
        for (int n = 0; n < ringLen; n++) {
            ring[n] = message(n, size);
        }
        int[] lat = new int[pushes];
        long start = System.nanoTime();
        for (int k = 0; k < pushes; k++) {
            long n = (long) ringLen + k;
            long t0 = System.nanoTime();
            ring[(int) (n % ringLen)] = message(n, size);
            lat[k] = (int) Math.min(System.nanoTime() - t0, 0xffffffffL); // unsigned
        }
        long timed = System.nanoTime() - start;
        long sum = 0;
        for (int i = 0; i < ringLen; i++) {
            byte[] m = ring[i];
            long first = m.length > 0 ? m[0] & 0xffL : 0, last = m.length > 0 ? m[m.length - 1] & 0xffL : 0;
            long entry = ((long) i << 16) | (first << 8) | last;
            sum += (entry * 0x9E3779B97F4A7C15L) ^ m.length;
        }
        long[] sorted = new long[pushes];
        for (int k = 0; k < pushes; k++) sorted[k] = Integer.toUnsignedLong(lat[k]);
        Arrays.sort(sorted);
        Outcome out = new Outcome();
        out.ops = pushes;
        out.checksum = sum;
        out.timed = timed;
        latencyMetrics(sorted, out.metrics);
        return out;
    }

    static byte[] message(long n, int size) {
        byte[] m = new byte[size];
        Arrays.fill(m, (byte) n);
        return m;
    }

    /** The Rust peers' latency metrics of the sorted push times (ns): rank ceil(q n), in µs. */
    static void latencyMetrics(long[] v, List<String> out) {
        int n = v.length;
        java.util.function.DoubleUnaryOperator rank = q -> {
            if (n == 0) return 0;
            int i = (int) Math.max(1, Math.min(n, Math.ceil(q * n)));
            return v[i - 1] / 1e3;
        };
        long total = 0, over = 0;
        for (long x : v) {
            total += x;
            if (x > 1_000_000) over++;
        }
        out.add("mean push (µs)=" + (n == 0 ? 0.0 : (double) total / n / 1e3));
        out.add("p99 push (µs)=" + rank.applyAsDouble(0.99));
        out.add("p99.9 push (µs)=" + rank.applyAsDouble(0.999));
        out.add("max push (µs)=" + rank.applyAsDouble(1.0));
        out.add("pushes > 1 ms=" + over);
    }

    // ----- write-barrier --------------------------------------------------------

    static final class WbNode {
        WbNode l, r;

        WbNode(WbNode l, WbNode r) {
            this.l = l;
            this.r = r;
        }

        static long count(WbNode n) {
            return n == null ? 0 : 1 + count(n.l) + count(n.r);
        }

        /** Swaps the children of this node and all its descendants (2 stores per node, leaves included). */
        long reverse() {
            WbNode a = l, b = r;
            l = b;
            r = a;
            long stores = 2;
            if (a != null) stores += a.reverse();
            if (b != null) stores += b.reverse();
            return stores;
        }
    }

    static WbNode mkTree(long depth) {
        return depth == 0 ? new WbNode(null, null) : new WbNode(mkTree(depth - 1), mkTree(depth - 1));
    }

    /**
     * Go's BenchmarkWriteBarrier shape as shade-bench's write-barrier defines it: a tree of depth `depth`
     * (2^(depth+1) - 1 nodes), a settling collection, an untimed warm-up reversal, then System.gc() back to back in
     * a thread while the tree is reversed `passes` times (timed). checksum = nodes * phi64 ^ stores.
     */
    static Outcome writeBarrier(Map<String, String> o, GcLog log) throws Exception {
        long depth = opt(o, "depth", 22);
        long passes = opt(o, "passes", 4);
        WbNode root = mkTree(depth);
        System.gc();
        root.reverse();
        long log0 = log.offset();
        Forcer forcer = new Forcer();
        long timed = 0, stores = 0;
        for (long p = 0; p < passes; p++) {
            long t0 = System.nanoTime();
            stores += root.reverse();
            timed += System.nanoTime() - t0;
        }
        forcer.finish();
        Outcome out = new Outcome();
        out.ops = stores;
        out.checksum = WbNode.count(root) * 0x9E3779B97F4A7C15L ^ stores;
        out.timed = timed;
        log.cyclesSince(log0).ifPresent(c -> out.metrics.add("cycles while storing=" + c));
        return out;
    }
}
