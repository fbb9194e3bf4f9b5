//! Out-of-process peers: the workloads written in other languages, in the
//! repository under `bench/peers/`, built once per invocation into
//! `target/bench-peers/` and run as child processes speaking the same result
//! protocol as `--run-one` (see `measure.rs`):
//!
//! * `go`: `bench/peers/go` (a module with no dependencies), built with
//!   `go build`; Go's concurrent collector with its defaults (GOGC=100 unless
//!   the environment sets GOGC, GOMAXPROCS = CPUs). GC figures from
//!   `runtime.MemStats` (one pause per cycle: its two stop-the-world phases
//!   together; the maximum over the run's last 256 cycles).
//! * `java-g1`, `java-zgc`: `bench/peers/java/Bench.java`, compiled with
//!   `javac`, run with `-XX:+UseG1GC -XX:+ExplicitGCInvokesConcurrent` (so
//!   the forced collections of stores-forced and write-barrier are
//!   concurrent cycles, as Go's `runtime.GC()` and Shade's `collect`, not
//!   full stop-the-world collections) or `-XX:+UseZGC` (JDK 17: not
//!   generational). No heap flags: both get the JVM's ergonomic heap sizes
//!   (initial 1/64, maximum 1/4 of RAM), as Go and Shade get no heap limit.
//!   GC figures from the JVM's GC log (`-Xlog:gc,gc+phases`), which the
//!   program reads back after the run: every `Pause …` line is one
//!   stop-the-world pause, cycles are the distinct GC ids.
//! * `boehm`: `bench/peers/c/bench.c`, compiled with `cc -O2` and linked with
//!   `-lgc` (the Boehm-Demers-Weiser conservative collector, Debian's
//!   libgc-dev); stop-the-world, parallel marking (the program starts the
//!   marker threads: one per CPU unless GC_MARKERS says otherwise).
//!
//! `bench/setup.sh` installs the toolchains on Debian. A peer whose
//! toolchain is missing is reported as skipped; a failed build is reported
//! as an error of each peer that needed it. Every external program follows
//! the Rust definition of each workload (same sizes, passed on its command
//! line from the same `Sizes`, same result lines, checksum and metrics), so
//! checksums are comparable with the Rust peers'.

use super::{gcbench, late, latency, stores, write_barrier, Bench, Params, Peer, PeerKind};
use crate::measure::{self, Sample};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

/// The benchmarks every external program implements.
pub const BENCHES: [&str; 7] =
    ["binary-trees", "gcbench", "stores-quiet", "stores-active", "stores-forced", "latency", "write-barrier"];

/// The benchmarks only the Go program implements (late-mutator: the issue
/// compares with Go in the same shape).
pub const GO_BENCHES: [&str; 1] = ["late-mutator"];

/// An external runtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    /// Go's collector.
    Go,
    /// The JVM with G1.
    JavaG1,
    /// The JVM with ZGC.
    JavaZgc,
    /// C with the Boehm collector.
    Boehm,
}

/// A toolchain, built once for all the runtimes that use it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Toolchain {
    /// `go`.
    Go,
    /// `javac` and `java`.
    Java,
    /// A C compiler and libgc.
    Boehm,
}

impl Runtime {
    /// Every runtime, in peer order.
    pub const ALL: [Runtime; 4] = [Runtime::Go, Runtime::JavaG1, Runtime::JavaZgc, Runtime::Boehm];

    /// The peer name.
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Go => "go",
            Runtime::JavaG1 => "java-g1",
            Runtime::JavaZgc => "java-zgc",
            Runtime::Boehm => "boehm",
        }
    }

    /// One line on the peer.
    pub fn about(self) -> &'static str {
        match self {
            Runtime::Go => "Go program (bench/peers/go), Go's collector with default GOGC and GOMAXPROCS",
            Runtime::JavaG1 => {
                "Java program (bench/peers/java), -XX:+UseG1GC -XX:+ExplicitGCInvokesConcurrent, default heap sizes"
            }
            Runtime::JavaZgc => "Java program (bench/peers/java), -XX:+UseZGC, default heap sizes",
            Runtime::Boehm => "C program (bench/peers/c) on the Boehm collector (libgc), parallel marking",
        }
    }

    /// The toolchain that builds and runs it.
    pub fn toolchain(self) -> Toolchain {
        match self {
            Runtime::Go => Toolchain::Go,
            Runtime::JavaG1 | Runtime::JavaZgc => Toolchain::Java,
            Runtime::Boehm => Toolchain::Boehm,
        }
    }

    /// JVM flags of the Java runtimes.
    fn jvm_flags(self) -> &'static [&'static str] {
        match self {
            Runtime::JavaG1 => &["-XX:+UseG1GC", "-XX:+ExplicitGCInvokesConcurrent"],
            Runtime::JavaZgc => &["-XX:+UseZGC"],
            Runtime::Go | Runtime::Boehm => &[],
        }
    }
}

/// An external peer of one benchmark.
#[derive(Clone, Copy, Debug)]
pub struct External {
    /// What runs it.
    pub runtime: Runtime,
    /// The benchmark id (the program's first argument).
    pub bench: &'static str,
}

/// Adds the external peers to the benchmarks in `benches` that they
/// implement (looked up by id; adding twice adds nothing).
pub fn attach(benches: &mut [Bench]) {
    for b in benches.iter_mut() {
        let (id, go_only) = match BENCHES.iter().find(|&&id| id == b.id) {
            Some(&id) => (id, false),
            None => match GO_BENCHES.iter().find(|&&id| id == b.id) {
                Some(&id) => (id, true),
                None => continue,
            },
        };
        for rt in Runtime::ALL {
            if go_only && rt != Runtime::Go {
                continue;
            }
            if b.peer(rt.name()).is_none() {
                b.peers.push(Peer {
                    name: rt.name(),
                    about: rt.about(),
                    kind: PeerKind::External(External { runtime: rt, bench: id }),
                });
            }
        }
    }
}

/// The program's arguments after the benchmark id: every size, from the
/// same definitions the Rust peers use.
pub fn args(bench: &str, p: &Params) -> Vec<String> {
    let kv = |k: &str, v: &dyn std::fmt::Display| format!("{k}={v}");
    match bench {
        "binary-trees" => vec![kv("depth", &p.depth)],
        "gcbench" => {
            let s = gcbench::Sizes::of(p);
            vec![
                kv("stretch", &s.stretch),
                kv("long_lived", &s.long_lived),
                kv("min", &gcbench::MIN_DEPTH),
                kv("max", &s.max),
                kv("array", &s.array),
            ]
        }
        "stores-quiet" | "stores-active" | "stores-forced" => {
            let s = stores::Sizes::of(p);
            vec![
                kv("nodes", &s.nodes),
                kv("stores", &s.stores),
                kv("batch", &stores::BATCH),
                kv("short_lived", &stores::SHORT_LIVED),
                kv("seed", &stores::SEED),
            ]
        }
        "latency" => {
            let s = latency::Sizes::of(p);
            vec![kv("ring", &s.ring), kv("pushes", &s.pushes), kv("size", &latency::MSG)]
        }
        "write-barrier" => {
            let s = write_barrier::Sizes::of(p);
            vec![kv("depth", &s.depth), kv("passes", &s.passes)]
        }
        "late-mutator" => {
            let s = late::Sizes::of(p);
            vec![
                kv("ring", &s.ring),
                kv("pushes", &s.pushes),
                kv("size", &latency::MSG),
                kv("depth", &s.depth),
                kv("extra", &late::EXTRA_ROOTS),
            ]
        }
        _ => Vec::new(),
    }
}

// ----- toolchains and builds ------------------------------------------------

/// Why a toolchain cannot be used.
#[derive(Clone, Debug)]
pub enum Unavailable {
    /// It is not installed: its peers are skipped.
    Missing(String),
    /// It is installed but the build failed: its peers fail.
    BuildFailed(String),
}

/// A built peer program.
#[derive(Clone, Debug)]
pub struct Built {
    /// The program to execute (the Go or C binary, or `java`).
    program: PathBuf,
    /// Arguments before the benchmark id (`-cp <dir> Bench` for Java).
    prefix: Vec<String>,
    /// The toolchain, for the report (e.g. `go version go1.19.8 linux/amd64`).
    pub toolchain: String,
}

/// The workspace root (`bench/peers` lives there).
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// `bench/peers/` in the workspace.
pub fn sources_dir() -> PathBuf {
    workspace_root().join("bench").join("peers")
}

/// `target/bench-peers/`: the target directory this binary was built into
/// (`target/release/shade-bench`, or `target/release/deps/…` for tests),
/// else the workspace's `target/`.
pub fn build_dir() -> PathBuf {
    let exe = std::env::current_exe().ok();
    let from_exe = exe.as_deref().and_then(Path::parent).and_then(|dir| {
        let dir = if dir.file_name().is_some_and(|n| n == "deps") { dir.parent()? } else { dir };
        let profile = dir.file_name()?.to_str()?;
        matches!(profile, "release" | "debug" | "bench" | "test").then(|| dir.parent()).flatten()
    });
    from_exe.map_or_else(|| workspace_root().join("target"), Path::to_path_buf).join("bench-peers")
}

/// An executable file called `name` on `PATH`.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        p.is_file()
    }
}

/// The first line of a command's stdout (or stderr), if it runs.
fn first_line(cmd: &mut Command) -> Option<String> {
    let out = cmd.stdin(Stdio::null()).output().ok()?;
    let text = if out.stdout.is_empty() { out.stderr } else { out.stdout };
    String::from_utf8_lossy(&text).lines().next().map(|l| l.trim().to_string())
}

/// Runs a build command; on failure, its status and the tail of its output.
fn build(what: &str, cmd: &mut Command) -> Result<(), Unavailable> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Unavailable::BuildFailed(format!("{what}: cannot run {:?}: {e}", cmd.get_program())))?;
    if out.status.success() {
        return Ok(());
    }
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(12)..].join("\n    ");
    let sep = if tail.trim().is_empty() { "" } else { ":\n    " };
    Err(Unavailable::BuildFailed(format!("{what} failed ({}){sep}{tail}", out.status)))
}

const SETUP_HINT: &str = "install it with `sudo bench/setup.sh`";

fn prepare_go(src: &Path, out: &Path) -> Result<Built, Unavailable> {
    let candidates = ["/usr/lib/go-1.19/bin/go", "/usr/lib/go/bin/go", "/usr/local/go/bin/go"];
    let go =
        on_path("go").or_else(|| candidates.iter().map(PathBuf::from).find(|p| is_executable(p))).ok_or_else(|| {
            Unavailable::Missing(format!(
                "Go toolchain not found (`go` on PATH, {}); {SETUP_HINT}",
                candidates.join(", ")
            ))
        })?;
    let version = first_line(Command::new(&go).arg("version")).unwrap_or_else(|| "go (unknown version)".into());
    let bin = out.join("go-bench");
    let mut cmd = Command::new(&go);
    cmd.args(["build", "-o"]).arg(&bin).arg(".").current_dir(src.join("go"));
    // No dependencies: never touch the network; keep the build cache with
    // the build (works without HOME, e.g. under sudo or in CI).
    cmd.env("GOPROXY", "off").env("GOTOOLCHAIN", "local");
    if std::env::var_os("GOCACHE").is_none() {
        cmd.env("GOCACHE", out.join("go-cache"));
    }
    if std::env::var_os("GOPATH").is_none() && std::env::var_os("HOME").is_none() {
        cmd.env("GOPATH", out.join("go-path"));
    }
    build("go build (bench/peers/go)", &mut cmd)?;
    let settings = first_line(Command::new(&bin).arg("version")).unwrap_or_default();
    Ok(Built { program: bin, prefix: Vec::new(), toolchain: format!("{version} ({}); {settings}", go.display()) })
}

/// The major version in `java -version`'s first line
/// (`openjdk version "17.0.15" 2025-04-15`, `java version "1.8.0_392"`).
fn java_major(line: &str) -> Option<u32> {
    let v = line.split('"').nth(1)?;
    let mut parts = v.split(['.', '-', '+', '_']);
    match parts.next()?.parse().ok()? {
        1 => parts.next()?.parse().ok(),
        n => Some(n),
    }
}

fn prepare_java(src: &Path, out: &Path) -> Result<Built, Unavailable> {
    let home_bin = std::env::var_os("JAVA_HOME").map(|h| PathBuf::from(h).join("bin"));
    let find =
        |name: &str| home_bin.as_ref().map(|b| b.join(name)).filter(|p| is_executable(p)).or_else(|| on_path(name));
    let (Some(javac), Some(java)) = (find("javac"), find("java")) else {
        return Err(Unavailable::Missing(format!(
            "Java toolchain not found (`javac` and `java` in $JAVA_HOME/bin or on PATH); {SETUP_HINT}"
        )));
    };
    let version = first_line(Command::new(&java).arg("-version")).unwrap_or_default();
    match java_major(&version) {
        Some(m) if m >= 15 => {}
        _ => {
            return Err(Unavailable::Missing(format!(
                "Java 15 or later needed for ZGC (found {version:?} at {}); {SETUP_HINT}",
                java.display()
            )))
        }
    }
    let classes = out.join("java");
    let mut cmd = Command::new(&javac);
    cmd.arg("-d").arg(&classes).arg(src.join("java").join("Bench.java"));
    build("javac (bench/peers/java/Bench.java)", &mut cmd)?;
    let prefix = vec!["-cp".to_string(), classes.display().to_string(), "Bench".to_string()];
    // The JVM's own view: version, CPUs, the ergonomic maximum heap.
    let settings = first_line(Command::new(&java).args(Runtime::JavaG1.jvm_flags()).args(&prefix).arg("version"))
        .unwrap_or_default();
    Ok(Built { program: java.clone(), prefix, toolchain: format!("{version} ({}); {settings}", java.display()) })
}

fn prepare_boehm(src: &Path, out: &Path) -> Result<Built, Unavailable> {
    let cc = std::env::var_os("CC")
        .map(PathBuf::from)
        .filter(|c| c.is_absolute() || on_path(&c.to_string_lossy()).is_some())
        .or_else(|| on_path("cc"))
        .or_else(|| on_path("gcc"))
        .or_else(|| on_path("clang"))
        .ok_or_else(|| {
            Unavailable::Missing(format!("no C compiler (cc, gcc, clang) for the Boehm peer; {SETUP_HINT}"))
        })?;
    // Compiler and linker flags of libgc: pkg-config if it knows bdw-gc,
    // else the header in a standard place and -lgc.
    let pkg = Command::new("pkg-config")
        .args(["--cflags", "--libs", "bdw-gc"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).split_whitespace().map(String::from).collect::<Vec<_>>());
    let flags = match pkg {
        Some(f) => f,
        None if ["/usr/include/gc.h", "/usr/local/include/gc.h"].iter().any(|h| Path::new(h).is_file()) => {
            vec!["-lgc".to_string()]
        }
        None => {
            return Err(Unavailable::Missing(format!(
                "the Boehm collector is not installed (no gc.h; Debian package libgc-dev); {SETUP_HINT}"
            )))
        }
    };
    let bin = out.join("boehm-bench");
    let mut cmd = Command::new(&cc);
    cmd.args(["-O2", "-std=gnu11", "-o"]).arg(&bin).arg(src.join("c").join("bench.c")).args(&flags);
    cmd.args(["-lpthread", "-lm"]);
    build("cc (bench/peers/c/bench.c)", &mut cmd)?;
    let cc_version = first_line(Command::new(&cc).arg("--version")).unwrap_or_else(|| cc.display().to_string());
    let gc_version = first_line(Command::new(&bin).arg("version")).unwrap_or_else(|| "libgc".into());
    Ok(Built { program: bin, prefix: Vec::new(), toolchain: format!("{gc_version}; built with {cc_version}") })
}

/// One toolchain's build, done at most once per invocation.
fn slot(t: Toolchain) -> &'static OnceLock<Result<Built, Unavailable>> {
    static SLOTS: [OnceLock<Result<Built, Unavailable>>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    &SLOTS[t as usize]
}

/// Finds and builds toolchain `t` (once per invocation; later calls return
/// the first result), with progress on stderr.
pub fn prepare(t: Toolchain) -> &'static Result<Built, Unavailable> {
    slot(t).get_or_init(|| {
        let (src, out) = (sources_dir(), build_dir());
        let what = match t {
            Toolchain::Go => "go",
            Toolchain::Java => "java-g1, java-zgc",
            Toolchain::Boehm => "boehm",
        };
        eprint!("shade-bench: building the {what} peer{} ... ", if t == Toolchain::Java { "s" } else { "" });
        let t0 = Instant::now();
        let r = if !src.is_dir() {
            Err(Unavailable::Missing(format!("peer sources not found at {}", src.display())))
        } else if let Err(e) = std::fs::create_dir_all(&out) {
            Err(Unavailable::BuildFailed(format!("cannot create {}: {e}", out.display())))
        } else {
            match t {
                Toolchain::Go => prepare_go(&src, &out),
                Toolchain::Java => prepare_java(&src, &out),
                Toolchain::Boehm => prepare_boehm(&src, &out),
            }
        };
        match &r {
            Ok(b) => eprintln!("ok ({:.1} s): {}", t0.elapsed().as_secs_f64(), b.toolchain),
            Err(Unavailable::Missing(m)) => eprintln!("SKIPPED: {m}"),
            Err(Unavailable::BuildFailed(m)) => eprintln!("BUILD FAILED: {m}"),
        }
        r
    })
}

/// The toolchains prepared so far in this invocation, for the report: one
/// line each (`go: go version go1.19.8 …`, `java: … (skipped: …)`).
pub fn toolchains() -> Vec<String> {
    [(Toolchain::Go, "go"), (Toolchain::Java, "java-g1, java-zgc"), (Toolchain::Boehm, "boehm")]
        .into_iter()
        .filter_map(|(t, names)| {
            let line = match slot(t).get()? {
                Ok(b) => b.toolchain.clone(),
                Err(Unavailable::Missing(m)) => format!("skipped: {m}"),
                Err(Unavailable::BuildFailed(m)) => format!("build failed: {}", m.lines().next().unwrap_or("")),
            };
            Some(format!("{names}: {line}"))
        })
        .collect()
}

// ----- running --------------------------------------------------------------

/// Runs external peer `x` once (building its toolchain first if needed) and
/// reads its result.
pub fn run(x: &External, params: &Params) -> Result<Sample, String> {
    let built = match prepare(x.runtime.toolchain()) {
        Ok(b) => b,
        Err(Unavailable::Missing(m)) => return Err(format!("skipped: {m}")),
        Err(Unavailable::BuildFailed(m)) => return Err(m.clone()),
    };
    let dir = build_dir();
    let mut cmd = Command::new(&built.program);
    cmd.current_dir(&dir);
    // The JVM writes its GC log into the build directory (a relative name:
    // -Xlog's option syntax uses ':'), the program reads it back.
    let gclog = match x.runtime {
        Runtime::JavaG1 | Runtime::JavaZgc => {
            static RUNS: AtomicU64 = AtomicU64::new(0);
            let name = format!("gc-{}-{}.log", std::process::id(), RUNS.fetch_add(1, Ordering::Relaxed));
            let _ = std::fs::remove_file(dir.join(&name));
            cmd.args(x.runtime.jvm_flags());
            cmd.arg(format!("-Xlog:gc,gc+phases:file={name}::filecount=0"));
            Some(name)
        }
        Runtime::Go | Runtime::Boehm => None,
    };
    cmd.args(&built.prefix).arg(x.bench).args(args(x.bench, params));
    if let Some(name) = &gclog {
        cmd.arg(format!("gclog={name}"));
    }
    let output = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::inherit()).output();
    if let Some(name) = &gclog {
        let _ = std::fs::remove_file(dir.join(name));
    }
    let output = output.map_err(|e| format!("cannot run {}: {e}", built.program.display()))?;
    if !output.status.success() {
        return Err(format!("{} {} failed: {}", x.runtime.name(), x.bench, output.status));
    }
    measure::decode(&String::from_utf8_lossy(&output.stdout))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attached_by_id_once() {
        let all = crate::workloads::all();
        for id in BENCHES {
            if let Some(b) = all.iter().find(|b| b.id == id) {
                for rt in Runtime::ALL {
                    assert_eq!(b.peers.iter().filter(|p| p.name == rt.name()).count(), 1, "{id}: {}", rt.name());
                }
            }
        }
        let late = all.iter().find(|b| b.id == "late-mutator").expect("late-mutator");
        assert!(late.peer("go").is_some() && late.peer("java-g1").is_none(), "late-mutator: Go only");
        let bt = all.iter().find(|b| b.id == "binary-trees").expect("binary-trees");
        assert!(matches!(
            bt.peer("go").map(|p| p.kind),
            Some(PeerKind::External(External { bench: "binary-trees", .. }))
        ));
        let mut again = crate::workloads::all();
        let before: Vec<usize> = again.iter().map(|b| b.peers.len()).collect();
        attach(&mut again);
        assert_eq!(before, again.iter().map(|b| b.peers.len()).collect::<Vec<_>>());
    }

    #[test]
    fn arguments() {
        let p = Params { depth: 12, ..Params::default() };
        assert_eq!(args("binary-trees", &p), ["depth=12"]);
        let s = stores::Sizes::of(&p);
        assert_eq!(args("stores-active", &p)[..2], [format!("nodes={}", s.nodes), format!("stores={}", s.stores)]);
        assert!(args("gcbench", &p).iter().any(|a| a == "min=4"));
        assert!(args("alloc-small", &p).is_empty());
    }

    #[test]
    fn java_versions() {
        assert_eq!(java_major("openjdk version \"17.0.15\" 2025-04-15"), Some(17));
        assert_eq!(java_major("java version \"1.8.0_392\""), Some(8));
        assert_eq!(java_major("openjdk version \"21\" 2023-09-19"), Some(21));
        assert_eq!(java_major("garbage"), None);
    }

    /// Every external peer whose toolchain is installed gives the same
    /// checksum and lines as the benchmark's first in-process peer, at small
    /// sizes (toolchains that are missing are skipped).
    #[test]
    fn external_peers_agree_with_the_rust_peers() {
        let p = Params { depth: 8, alloc_count: 1000, scale: 1.0 / 512.0, gcbench_scale: 1.0 / 512.0 };
        for b in crate::workloads::all().iter().filter(|b| BENCHES.contains(&b.id) || GO_BENCHES.contains(&b.id)) {
            let want = b
                .peers
                .iter()
                .find_map(|peer| match peer.kind {
                    PeerKind::InProcess(f) => Some(f(&p)),
                    PeerKind::External(_) => None,
                })
                .expect("an in-process peer");
            for peer in &b.peers {
                let PeerKind::External(x) = peer.kind else { continue };
                if prepare(x.runtime.toolchain()).is_err() {
                    continue;
                }
                let got = run(&x, &p).unwrap_or_else(|e| panic!("{}:{}: {e}", b.id, peer.name));
                assert_eq!(got.outcome.checksum, want.checksum, "{}:{} checksum", b.id, peer.name);
                assert_eq!(got.outcome.lines, want.lines, "{}:{} lines", b.id, peer.name);
                assert_eq!(got.outcome.ops, want.ops, "{}:{} ops", b.id, peer.name);
            }
        }
    }

    #[test]
    fn sources_are_in_the_repository() {
        let src = sources_dir();
        for f in ["go/main.go", "go/go.mod", "java/Bench.java", "c/bench.c"] {
            assert!(src.join(f).is_file(), "{} missing", src.join(f).display());
        }
    }
}
