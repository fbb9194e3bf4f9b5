/*
 * shade-bench's Boehm-collector peer (`boehm`): the shade-bench workloads in
 * C on the Boehm-Demers-Weiser conservative collector (libgc, linked with
 * -lgc), run by shade-bench in a child process and reporting in its result
 * protocol on stdout:
 *
 *   @line <result line>
 *   @metric <name>=<value>
 *   @result wall_ns=... cpu_ns=... ops=... checksum=... peak_rss_kb=... start_rss_kb=... gc_cycles=... ...
 *
 * Usage: boehm-bench <benchmark> [key=value ...]
 *        boehm-bench version   (prints the libgc version and marker threads)
 *
 * Benchmarks (ids as in shade-bench) and their options; shade-bench passes
 * every size explicitly, the defaults are the sizes:
 *
 *   binary-trees  depth=21
 *   gcbench       stretch=18 long_lived=16 min=4 max=16 array=500000
 *   stores-quiet, stores-active, stores-forced
 *                 nodes=1000000 stores=20000000 batch=1000 short_lived=1000 seed=42
 *   latency       ring=200000 pushes=2000000 size=1024
 *   write-barrier depth=22 passes=4
 *
 * Each workload follows its Rust definition in shade-bench/src/workloads/
 * (same sizes, order of operations, result lines, checksum, ops, the same
 * timed part and metric names), so the checksums agree with the Rust peers'.
 *
 * Collector set-up: GC_INIT(), then GC_start_mark_threads(). Debian's libgc
 * is built with parallel marking, but the marker threads only start when the
 * program creates its first thread or calls GC_start_mark_threads(); this
 * program calls it, so every workload marks in parallel with as many marker
 * threads as CPUs (the GC_MARKERS environment variable overrides; reported as
 * gc_mark_workers). Otherwise the defaults: stop-the-world collections
 * (not incremental), lazy sweeping during allocation, free-space divisor 3.
 * Pointerful objects come from GC_MALLOC, pointer-free ones (message
 * payloads, the doubles) from GC_MALLOC_ATOMIC.
 *
 * Measured around the workload only: wall time (CLOCK_MONOTONIC), CPU time
 * (CLOCK_PROCESS_CPUTIME_ID: all threads, the marker threads included),
 * peak RSS (the process's VmHWM from /proc/self/status after the run).
 * GC pauses: a collection-event callback times each stop-the-world interval
 * (GC_EVENT_PRE_STOP_WORLD to GC_EVENT_POST_START_WORLD); gc_cycles is the
 * change of GC_get_gc_no().
 */
#define GC_THREADS 1
#include <gc.h>

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    uint64_t ops, checksum;
    uint64_t timed; /* the timed part (ns) when the workload times only part of its run; 0: the whole run */
    char lines[64][160];
    int nlines;
    char metrics[16][96]; /* "@metric" lines: "<name>=<value>" */
    int nmetrics;
} outcome;

/* ----- options ------------------------------------------------------------- */

static int nopts;
static char *opt_keys[32];
static uint64_t opt_vals[32];

static uint64_t opt(const char *k, uint64_t def) {
    for (int i = 0; i < nopts; i++)
        if (strcmp(opt_keys[i], k) == 0) return opt_vals[i];
    return def;
}

/* ----- clocks, /proc ------------------------------------------------------- */

static uint64_t clock_ns(clockid_t c) {
    struct timespec ts;
    clock_gettime(c, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ns(void) { return clock_ns(CLOCK_MONOTONIC); }

static uint64_t proc_status_kb(const char *field) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    size_t n = strlen(field);
    uint64_t v = 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0 && line[n] == ':') {
            v = strtoull(line + n + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Index of the per-mille p percentile of n > 0 sorted values: min(n-1, n*p/1000). */
static size_t percentile_index(size_t n, size_t p) {
    size_t i = n * p / 1000;
    return i > n - 1 ? n - 1 : i;
}

/* ----- GC pauses ------------------------------------------------------------ */

#define MAX_PAUSES (1u << 20)
static uint64_t *pauses; /* malloc'd: outside the collected heap */
static size_t npauses;
static uint64_t pause_start;

static void GC_CALLBACK on_gc_event(GC_EventType e) {
    if (e == GC_EVENT_PRE_STOP_WORLD) {
        pause_start = now_ns();
    } else if (e == GC_EVENT_POST_START_WORLD && pause_start) {
        if (npauses < MAX_PAUSES) pauses[npauses++] = now_ns() - pause_start;
        pause_start = 0;
    }
}

/* ----- forced collections --------------------------------------------------- */

static atomic_int forcer_stop;

static void *forcer_main(void *arg) {
    (void)arg;
    while (!atomic_load(&forcer_stop)) GC_gcollect();
    return NULL;
}

static pthread_t forcer_start(void) {
    pthread_t t;
    atomic_store(&forcer_stop, 0);
    if (pthread_create(&t, NULL, forcer_main, NULL) != 0) {
        fprintf(stderr, "boehm-bench: cannot create a thread\n");
        exit(1);
    }
    return t;
}

static void forcer_finish(pthread_t t) {
    atomic_store(&forcer_stop, 1);
    pthread_join(t, NULL);
}

static void *gc_alloc(size_t n) {
    void *p = GC_MALLOC(n);
    if (!p) {
        fprintf(stderr, "boehm-bench: out of memory\n");
        exit(1);
    }
    return p;
}

static void *gc_alloc_atomic(size_t n) {
    void *p = GC_MALLOC_ATOMIC(n);
    if (!p) {
        fprintf(stderr, "boehm-bench: out of memory\n");
        exit(1);
    }
    return p;
}

static void add_line(outcome *o, uint64_t check, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void add_metric(outcome *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add_metric(outcome *o, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (o->nmetrics < 16) vsnprintf(o->metrics[o->nmetrics++], sizeof o->metrics[0], fmt, ap);
    va_end(ap);
}

static void add_line(outcome *o, uint64_t check, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (o->nlines < 64) vsnprintf(o->lines[o->nlines++], sizeof o->lines[0], fmt, ap);
    va_end(ap);
    o->checksum += check;
}

/* ----- binary-trees ---------------------------------------------------------- */

typedef struct node {
    struct node *left, *right;
} node;

static node *bottom_up(unsigned d) {
    node *l = NULL, *r = NULL;
    if (d > 0) {
        l = bottom_up(d - 1);
        r = bottom_up(d - 1);
    }
    node *n = gc_alloc(sizeof *n);
    n->left = l;
    n->right = r;
    return n;
}

static uint64_t check(const node *n) { return n->left ? 1 + check(n->left) + check(n->right) : 1; }

static uint64_t tree_nodes(unsigned d) { return ((uint64_t)1 << (d + 1)) - 1; }

/* The benchmarks-game program, single-threaded; checksum = sum of all checks. */
static void binary_trees(outcome *o) {
    const unsigned min_depth = 4;
    unsigned n = (unsigned)opt("depth", 21);
    if (n < min_depth + 2) n = min_depth + 2;
    uint64_t c = check(bottom_up(n + 1));
    add_line(o, c, "stretch tree of depth %u\t check: %" PRIu64, n + 1, c);
    o->ops = tree_nodes(n + 1) + tree_nodes(n);
    node *long_lived = bottom_up(n);
    for (unsigned d = min_depth; d <= n; d += 2) {
        uint64_t iters = (uint64_t)1 << (n - d + min_depth), sum = 0;
        for (uint64_t i = 0; i < iters; i++) sum += check(bottom_up(d));
        o->ops += iters * tree_nodes(d);
        add_line(o, sum, "%" PRIu64 "\t trees of depth %u\t check: %" PRIu64, iters, d, sum);
    }
    c = check(long_lived);
    add_line(o, c, "long lived tree of depth %u\t check: %" PRIu64, n, c);
}

/* ----- gcbench ---------------------------------------------------------------- */

typedef struct gc_node {
    struct gc_node *left, *right;
    int i, j;
} gc_node;

static uint64_t tree_size(uint64_t d) { return ((uint64_t)1 << (d + 1)) - 1; }

/* GCBench's Populate: gives n two new children, then populates them. */
static void populate(uint64_t d, gc_node *n) {
    if (d == 0) return;
    n->left = gc_alloc(sizeof(gc_node));
    n->right = gc_alloc(sizeof(gc_node));
    populate(d - 1, n->left);
    populate(d - 1, n->right);
}

/* GCBench's MakeTree: children first. */
static gc_node *make_tree(uint64_t d) {
    if (d == 0) return gc_alloc(sizeof(gc_node));
    gc_node *l = make_tree(d - 1), *r = make_tree(d - 1);
    gc_node *n = gc_alloc(sizeof *n);
    n->left = l;
    n->right = r;
    return n;
}

static uint64_t gc_count(const gc_node *n) { return n ? 1 + gc_count(n->left) + gc_count(n->right) : 0; }

/* Formats x like Rust's `{:e}`: the shortest digits that read back as x,
 * "1e-3", "1.5e2", "0e0". */
static void rust_exp(char *out, size_t len, double x) {
    char buf[64];
    for (int p = 0; p < 18; p++) {
        snprintf(buf, sizeof buf, "%.*e", p, x);
        if (strtod(buf, NULL) == x) break;
    }
    char *e = strchr(buf, 'e');
    if (!e) {
        snprintf(out, len, "%s", buf);
        return;
    }
    *e = '\0';
    snprintf(out, len, "%se%d", buf, atoi(e + 1));
}

/* Boehm's GCBench as shade-bench's gcbench defines it (see its Rust source):
 * the stretch tree, the last tree of each kind and depth and the long-lived
 * tree are counted; checksum = the counts plus the bits of array[1000]. */
static void gcbench(outcome *o) {
    uint64_t stretch_depth = opt("stretch", 18), long_lived_depth = opt("long_lived", 16);
    uint64_t min_depth = opt("min", 4), max_depth = opt("max", 16), array_size = opt("array", 500000);
    uint64_t c = gc_count(make_tree(stretch_depth));
    add_line(o, c, "stretch tree of depth %" PRIu64 ": check %" PRIu64, stretch_depth, c);
    gc_node *long_lived = gc_alloc(sizeof *long_lived);
    populate(long_lived_depth, long_lived);
    double *array = gc_alloc_atomic(sizeof(double) * (array_size ? array_size : 1));
    memset(array, 0, sizeof(double) * array_size);
    for (uint64_t i = 0; i < array_size / 2; i++) array[i] = 1.0 / (double)i;
    o->ops = tree_size(stretch_depth) + tree_size(long_lived_depth);
    uint64_t top_down = 0, bottom_up = 0;
    for (uint64_t d = min_depth; d <= max_depth; d += 2) {
        uint64_t iters = 2 * tree_size(stretch_depth) / tree_size(d), td = 0, bu = 0;
        uint64_t t0 = now_ns();
        for (uint64_t i = 0; i < iters; i++) {
            gc_node *t = gc_alloc(sizeof *t);
            populate(d, t);
            if (i + 1 == iters) td = gc_count(t);
        }
        top_down += now_ns() - t0;
        t0 = now_ns();
        for (uint64_t i = 0; i < iters; i++) {
            gc_node *t = make_tree(d);
            if (i + 1 == iters) bu = gc_count(t);
        }
        bottom_up += now_ns() - t0;
        o->ops += 2 * iters * tree_size(d);
        add_line(o, td + bu, "%" PRIu64 " trees of depth %" PRIu64 ": top-down check %" PRIu64 ", bottom-up check %" PRIu64,
                 iters, d, td, bu);
    }
    uint64_t ll = gc_count(long_lived);
    double a1000 = array_size > 1000 ? array[1000] : 0.0;
    char a[96];
    rust_exp(a, sizeof a, a1000);
    uint64_t bits;
    memcpy(&bits, &a1000, sizeof bits);
    add_line(o, ll + bits, "long-lived tree of depth %" PRIu64 ": check %" PRIu64 "; array of %" PRIu64 ": array[1000] = %s",
             long_lived_depth, ll, array_size, a);
    add_metric(o, "top-down (s)=%.9f", top_down / 1e9);
    add_metric(o, "bottom-up (s)=%.9f", bottom_up / 1e9);
}

/* ----- stores ------------------------------------------------------------------ */

typedef struct store_node {
    struct store_node *left, *right;
    uint64_t id;
} store_node;

static store_node *volatile store_sink;

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* A number in 0..n (multiply-shift reduction, as the Rust peers). */
static uint64_t below(uint64_t *s, uint64_t n) { return (uint64_t)(((unsigned __int128)splitmix64(s) * n) >> 64); }

/* stores as shade-bench defines it (see its Rust source): only the store
 * loops are timed; a collection (GC_gcollect) settles the heap first. quiet:
 * collections off (GC_disable) during the store phase; active: `short_lived`
 * nodes allocated (untimed) before each batch; forced: a thread runs
 * GC_gcollect() back to back (each one stops the world). */
static void stores(outcome *o, const char *variant) {
    uint64_t n = opt("nodes", 1000000), total = opt("stores", 20000000), batch = opt("batch", 1000);
    uint64_t short_lived = opt("short_lived", 1000), rng = opt("seed", 42);
    int active = strcmp(variant, "active") == 0, quiet = strcmp(variant, "quiet") == 0;
    int forced = strcmp(variant, "forced") == 0;
    store_node **nodes = gc_alloc(sizeof(store_node *) * n);
    for (uint64_t i = 0; i < n; i++) {
        nodes[i] = gc_alloc(sizeof(store_node));
        nodes[i]->id = i;
    }
    for (uint64_t i = 0; i < n; i++) nodes[i]->right = nodes[(i + 1) % n];
    uint32_t *is = malloc(sizeof(uint32_t) * batch), *js = malloc(sizeof(uint32_t) * batch);
    if (!is || !js) exit(1);
    GC_gcollect();
    uint64_t gc0 = GC_get_gc_no();
    pthread_t forcer;
    if (forced) forcer = forcer_start();
    if (quiet) GC_disable();
    uint64_t timed = 0;
    for (uint64_t left = total; left > 0;) {
        uint64_t k = left < batch ? left : batch;
        left -= k;
        for (uint64_t q = 0; q < k; q++) {
            is[q] = (uint32_t)below(&rng, n);
            js[q] = (uint32_t)below(&rng, n);
        }
        if (active) {
            for (uint64_t q = 0; q < short_lived; q++) {
                store_node *x = gc_alloc(sizeof *x);
                x->id = q;
                store_sink = x;
            }
        }
        uint64_t t0 = now_ns();
        for (uint64_t q = 0; q < k; q++) nodes[is[q]]->left = nodes[js[q]];
        timed += now_ns() - t0;
    }
    if (quiet) GC_enable();
    if (forced) forcer_finish(forcer);
    uint64_t cycles = GC_get_gc_no() - gc0;
    store_sink = NULL;
    free(is);
    free(js);
    uint64_t sum = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t v = nodes[i]->left ? nodes[i]->left->id + 1 : 0;
        sum = (sum ^ v) * 0x00000100000001B3u;
    }
    o->ops = total;
    o->checksum = sum;
    o->timed = timed;
    add_metric(o, "cycles during stores=%" PRIu64, cycles);
}

/* ----- latency ------------------------------------------------------------------ */

/* latency as shade-bench defines it (see its Rust source): message n is
 * `size` bytes of (uint8_t)n, a GC_MALLOC_ATOMIC (pointer-free) block filled
 * with memset. Metrics as the Rust peers (rank ceil(q n), in µs). */
static unsigned char *message(uint64_t n, uint64_t size) {
    unsigned char *m = gc_alloc_atomic(size ? size : 1);
    memset(m, (unsigned char)n, size);
    return m;
}

static void latency(outcome *o) {
    uint64_t ring_len = opt("ring", 200000), pushes = opt("pushes", 2000000), size = opt("size", 1024);
    unsigned char **ring = gc_alloc(sizeof(unsigned char *) * ring_len);
    for (uint64_t n = 0; n < ring_len; n++) ring[n] = message(n, size);
    uint64_t *lat = malloc(sizeof(uint64_t) * (pushes ? pushes : 1));
    if (!lat) exit(1);
    uint64_t start = now_ns();
    for (uint64_t k = 0; k < pushes; k++) {
        uint64_t n = ring_len + k;
        uint64_t t0 = now_ns();
        ring[n % ring_len] = message(n, size);
        uint64_t d = now_ns() - t0;
        lat[k] = d > UINT32_MAX ? UINT32_MAX : d;
    }
    o->timed = now_ns() - start;
    uint64_t sum = 0;
    for (uint64_t i = 0; i < ring_len; i++) {
        uint64_t first = size ? ring[i][0] : 0, last = size ? ring[i][size - 1] : 0;
        uint64_t entry = i << 16 | first << 8 | last;
        sum += (entry * 0x9E3779B97F4A7C15u) ^ size;
    }
    qsort(lat, pushes, sizeof *lat, cmp_u64);
    uint64_t total = 0, over = 0;
    for (uint64_t k = 0; k < pushes; k++) {
        total += lat[k];
        if (lat[k] > 1000000) over++;
    }
    double qs[3] = {0.99, 0.999, 1.0}, r[3] = {0, 0, 0};
    for (int q = 0; q < 3 && pushes; q++) {
        double i = ceil(qs[q] * (double)pushes);
        if (i < 1) i = 1;
        if (i > (double)pushes) i = (double)pushes;
        r[q] = lat[(uint64_t)i - 1] / 1e3;
    }
    o->ops = pushes;
    o->checksum = sum;
    add_metric(o, "mean push (µs)=%.6f", pushes ? (double)total / (double)pushes / 1e3 : 0.0);
    add_metric(o, "p99 push (µs)=%.3f", r[0]);
    add_metric(o, "p99.9 push (µs)=%.3f", r[1]);
    add_metric(o, "max push (µs)=%.3f", r[2]);
    add_metric(o, "pushes > 1 ms=%" PRIu64, over);
    free(lat);
}

/* ----- write-barrier ------------------------------------------------------------ */

typedef struct wb_node {
    struct wb_node *l, *r;
} wb_node;

static wb_node *mk_tree(uint64_t depth) {
    wb_node *l = NULL, *r = NULL;
    if (depth > 0) {
        l = mk_tree(depth - 1);
        r = mk_tree(depth - 1);
    }
    wb_node *n = gc_alloc(sizeof *n);
    n->l = l;
    n->r = r;
    return n;
}

static uint64_t wb_count(const wb_node *n) { return n ? 1 + wb_count(n->l) + wb_count(n->r) : 0; }

/* Swaps the children of n and of all its descendants (2 stores per node,
 * leaves included, as the Rust peers); returns the stores made. */
static uint64_t reverse(wb_node *n) {
    wb_node *l = n->l, *r = n->r;
    n->l = r;
    n->r = l;
    uint64_t stores = 2;
    if (l) stores += reverse(l);
    if (r) stores += reverse(r);
    return stores;
}

/* Go's BenchmarkWriteBarrier shape as shade-bench's write-barrier defines it
 * (see its Rust source). Boehm has no write barrier (its collections stop the
 * world), so this is plain stores while collections come and go. */
static void write_barrier(outcome *o) {
    uint64_t depth = opt("depth", 22), passes = opt("passes", 4), stores = 0, timed = 0;
    wb_node *root = mk_tree(depth);
    GC_gcollect();
    reverse(root);
    uint64_t gc0 = GC_get_gc_no();
    pthread_t forcer = forcer_start();
    for (uint64_t p = 0; p < passes; p++) {
        uint64_t t0 = now_ns();
        stores += reverse(root);
        timed += now_ns() - t0;
    }
    forcer_finish(forcer);
    uint64_t cycles = GC_get_gc_no() - gc0;
    o->ops = stores;
    o->checksum = wb_count(root) * 0x9E3779B97F4A7C15u ^ stores;
    o->timed = timed;
    add_metric(o, "cycles while storing=%" PRIu64, cycles);
}

/* ----- main ---------------------------------------------------------------------- */

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: boehm-bench <benchmark> [key=value ...]\n");
        return 2;
    }
    for (int i = 2; i < argc && nopts < 32; i++) {
        char *eq = strchr(argv[i], '='), *end;
        if (!eq || eq[1] == '\0') {
            fprintf(stderr, "boehm-bench: bad option %s (expected key=number)\n", argv[i]);
            return 2;
        }
        *eq = '\0';
        opt_keys[nopts] = argv[i];
        opt_vals[nopts] = strtoull(eq + 1, &end, 10);
        if (*end) {
            fprintf(stderr, "boehm-bench: bad option value %s\n", eq + 1);
            return 2;
        }
        nopts++;
    }
    const char *b = argv[1];
    if (strcmp(b, "version") == 0) {
        GC_INIT();
        GC_start_mark_threads();
        unsigned v = GC_get_version();
        printf("libgc %u.%u.%u, %d marker thread%s (parallel marking %s), incremental off\n", v >> 16, (v >> 8) & 0xff,
               v & 0xff, GC_get_parallel() + 1, GC_get_parallel() ? "s" : "", GC_get_parallel() ? "on" : "off");
        return 0;
    }
    void (*work)(outcome *) = NULL;
    const char *variant = NULL;
    if (strcmp(b, "binary-trees") == 0) work = binary_trees;
    else if (strcmp(b, "gcbench") == 0) work = gcbench;
    else if (strcmp(b, "stores-quiet") == 0) variant = "quiet";
    else if (strcmp(b, "stores-active") == 0) variant = "active";
    else if (strcmp(b, "stores-forced") == 0) variant = "forced";
    else if (strcmp(b, "latency") == 0) work = latency;
    else if (strcmp(b, "write-barrier") == 0) work = write_barrier;
    else {
        fprintf(stderr, "boehm-bench: unknown benchmark %s\n", b);
        return 2;
    }

    GC_INIT();
    GC_start_mark_threads();
    pauses = malloc(sizeof(uint64_t) * MAX_PAUSES);
    if (!pauses) return 1;
    GC_set_on_collection_event(on_gc_event);

    static outcome out;
    uint64_t gc0 = GC_get_gc_no(), alloc0 = GC_get_total_bytes();
    uint64_t start_rss = proc_status_kb("VmRSS");
    uint64_t cpu0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID), t0 = now_ns();
    if (variant) stores(&out, variant);
    else work(&out);
    uint64_t wall = now_ns() - t0, cpu = clock_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
    uint64_t gc1 = GC_get_gc_no(), alloc1 = GC_get_total_bytes();
    uint64_t peak_rss = proc_status_kb("VmHWM");
    GC_set_on_collection_event(0);

    uint64_t total = 0, max = 0, p99 = 0;
    for (size_t i = 0; i < npauses; i++) total += pauses[i];
    if (npauses) {
        qsort(pauses, npauses, sizeof *pauses, cmp_u64);
        max = pauses[npauses - 1];
        p99 = pauses[percentile_index(npauses, 990)];
    }
    if (strcmp(b, "latency") == 0) add_metric(&out, "GC max pause (µs)=%.3f", max / 1e3);

    for (int i = 0; i < out.nlines; i++) printf("@line %s\n", out.lines[i]);
    for (int i = 0; i < out.nmetrics; i++) printf("@metric %s\n", out.metrics[i]);
    printf("@result wall_ns=%" PRIu64 " cpu_ns=%" PRIu64 " ops=%" PRIu64 " checksum=%" PRIu64, wall, cpu, out.ops,
           out.checksum);
    if (peak_rss) printf(" peak_rss_kb=%" PRIu64, peak_rss);
    if (start_rss) printf(" start_rss_kb=%" PRIu64, start_rss);
    if (out.timed) printf(" timed_ns=%" PRIu64, out.timed);
    printf(" gc_cycles=%" PRIu64 " gc_pause_total_ns=%" PRIu64 " gc_pause_max_ns=%" PRIu64 " gc_pause_p99_ns=%" PRIu64
           " gc_allocated_bytes=%" PRIu64 " gc_mark_workers=%d\n",
           gc1 - gc0, total, max, p99, alloc1 - alloc0, GC_get_parallel() + 1);
    return fflush(stdout) == 0 ? 0 : 1;
}
