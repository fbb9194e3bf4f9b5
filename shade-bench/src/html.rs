//! The HTML report: one self-contained page (inline CSS, charts as inline
//! SVG drawn with `plotters`, no script, nothing fetched), written next to
//! the markdown report.
//!
//! * "Peers side by side": per benchmark, a bar chart of every peer's
//!   primary figure (median over the runs; the subject highlighted).
//! * Per benchmark: a table of the peers' figures and metrics, and for the
//!   subject's collector (from the `@cycle` lines of its median run): the
//!   stop-the-world pauses of every cycle, the heap size over time with the
//!   goal the pacer set, and the mark time of every cycle.
//! * Write barrier (when that benchmark ran): ns per store of every barrier
//!   mode, and its overhead over running with no collection.
//!
//! SVG text is laid out by the browser (plotters' SVG backend without its
//! `ttf` feature estimates text widths; no font files or system font
//! libraries are involved).

use crate::measure::{max, median, min, CycleSample, Sample};
use crate::report::{primary, Machine};
use crate::runner::{BenchResult, PeerResult, Plan, Results};
use crate::workloads::{self, Unit, PRIMARY};
use plotters::coord::ranged1d::{AsRangedCoord, SegmentValue, ValueFormatter};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::fmt::Write as _;

/// Chart width, px (the page scales charts down on narrow windows).
const WIDTH: u32 = 960;
/// Font of all chart text.
const FONT: &str = "sans-serif";
/// The id of the write-barrier benchmark.
const WRITE_BARRIER: &str = "write-barrier";
/// Series and peer colours (Tableau 20: the ten strong colours, then their
/// light variants).
const PALETTE: [RGBColor; 20] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(174, 199, 232),
    RGBColor(255, 187, 120),
    RGBColor(152, 223, 138),
    RGBColor(255, 152, 150),
    RGBColor(197, 176, 213),
    RGBColor(196, 156, 148),
    RGBColor(247, 182, 210),
    RGBColor(199, 199, 199),
    RGBColor(219, 219, 141),
    RGBColor(158, 218, 229),
];

/// A colour per peer name, the same in every chart: the benchmarks'
/// subjects (Shade) the first colour, the other peers the next ones in order
/// of first appearance.
struct PeerColors {
    subjects: Vec<&'static str>,
    others: Vec<&'static str>,
}

impl PeerColors {
    fn of(results: &Results<'_>) -> PeerColors {
        let subjects: Vec<&'static str> = results.benches.iter().map(|b| b.bench.subject()).collect();
        let mut others: Vec<&'static str> = Vec::new();
        for p in results.benches.iter().flat_map(|b| &b.peers) {
            if !subjects.contains(&p.peer.name) && !others.contains(&p.peer.name) {
                others.push(p.peer.name);
            }
        }
        PeerColors { subjects, others }
    }

    fn get(&self, name: &str) -> RGBColor {
        if self.subjects.contains(&name) {
            return PALETTE[0];
        }
        let i = self.others.iter().position(|n| *n == name).unwrap_or(self.others.len());
        PALETTE[(1 + i) % PALETTE.len()]
    }
}

/// One bar of a bar chart.
struct Bar {
    label: String,
    value: f64,
    /// Printed after the bar.
    text: String,
    color: RGBColor,
}

/// One series of a line chart.
struct Series {
    name: String,
    color: RGBColor,
    points: Vec<(f64, f64)>,
}

type ChartResult = Result<String, String>;

fn chart_err<E: std::fmt::Debug>(e: E) -> String {
    format!("chart: {e:?}")
}

/// Spread (largest / smallest value) above which a bar chart uses a
/// logarithmic axis, so that small bars stay readable next to a huge one.
const LOG_SPREAD: f64 = 30.0;

/// A horizontal bar chart, one bar per entry, the first on top; on a log
/// axis if the values spread over more than [`LOG_SPREAD`]×.
fn bar_chart(caption: &str, x_desc: &str, bars: &[Bar]) -> ChartResult {
    let pos = |b: &Bar| (b.value > 0.0 && b.value.is_finite()).then_some(b.value);
    let hi = bars.iter().filter_map(pos).fold(0.0, f64::max);
    let lo = bars.iter().filter_map(pos).fold(f64::INFINITY, f64::min);
    // Room right of the longest bar for its text: the share of the ~780 px
    // plot that the text takes (about 7.5 px per character).
    let longest_text = bars.iter().map(|b| b.text.chars().count()).max().unwrap_or(4) as f64;
    let share = ((longest_text * 7.5 + 12.0) / 780.0).min(0.6);
    if hi > 0.0 && hi / lo > LOG_SPREAD {
        let base = 10f64.powf(lo.log10().floor());
        let xmax = hi * (hi / base).powf(share / (1.0 - share));
        draw_bars(caption, &format!("{x_desc} — log scale"), bars, (base..xmax).log_scale(), base)
    } else {
        let hi = if hi > 0.0 { hi } else { 1.0 };
        draw_bars(caption, x_desc, bars, 0.0..hi * (1.0 + share / (1.0 - share)), 0.0)
    }
}

/// Draws `bars` on the x axis `x`, bars starting at `base`.
fn draw_bars<X>(caption: &str, x_desc: &str, bars: &[Bar], x: X, base: f64) -> ChartResult
where
    X: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64>,
{
    let n = bars.len().max(1) as u32;
    let height = 90 + 34 * n;
    let longest = bars.iter().map(|b| b.label.chars().count()).max().unwrap_or(4) as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(chart_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, (FONT, 18))
            .margin(10)
            .margin_right(24)
            .x_label_area_size(40)
            .y_label_area_size(16 + 8 * longest)
            // A segmented range covers its end too: 0..n-1 is n segments.
            .build_cartesian_2d(x, (0..n - 1).into_segmented())
            .map_err(chart_err)?;
        let labels: Vec<&str> = bars.iter().map(|b| b.label.as_str()).collect();
        let ylab = |v: &SegmentValue<u32>| match v {
            SegmentValue::CenterOf(i) if (*i as usize) < labels.len() => labels[(n - 1 - i) as usize].to_string(),
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_y_mesh()
            .light_line_style(WHITE.mix(0.0))
            .bold_line_style(BLACK.mix(0.12))
            .y_labels(n as usize)
            .y_label_formatter(&ylab)
            .x_labels(8)
            .x_label_formatter(&|v| short_num(*v))
            .x_desc(x_desc)
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 14))
            .draw()
            .map_err(chart_err)?;
        let end = |b: &Bar| if b.value.is_finite() { b.value.max(base) } else { base };
        chart
            .draw_series(bars.iter().enumerate().map(|(i, b)| {
                let y = n - 1 - i as u32;
                let mut r = Rectangle::new(
                    [(base, SegmentValue::Exact(y)), (end(b), SegmentValue::Exact(y + 1))],
                    b.color.filled(),
                );
                r.set_margin(5, 5, 0, 0);
                r
            }))
            .map_err(chart_err)?;
        let style = TextStyle::from((FONT, 13).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
        chart
            .draw_series(bars.iter().enumerate().map(|(i, b)| {
                let y = n - 1 - i as u32;
                EmptyElement::at((end(b), SegmentValue::CenterOf(y))) + Text::new(b.text.clone(), (6, 0), style.clone())
            }))
            .map_err(chart_err)?;
        root.present().map_err(chart_err)?;
    }
    Ok(svg)
}

/// A line chart of `series` (with point markers when they are few).
/// `int_x`: the x values are integers (cycle numbers), labelled as such.
fn line_chart(caption: &str, x_desc: &str, y_desc: &str, int_x: bool, series: &[Series]) -> ChartResult {
    let xs = series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let (mut x0, mut x1) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| (a.min(x), b.max(x)));
    if !x0.is_finite() || !x1.is_finite() {
        (x0, x1) = (0.0, 1.0);
    }
    if x1 <= x0 {
        (x0, x1) = (x0 - 0.5, x1 + 0.5);
    }
    let pad = (x1 - x0) * 0.02;
    let ymax = series.iter().flat_map(|s| s.points.iter().map(|p| p.1)).fold(0.0, f64::max);
    // Headroom above the data for the legend, drawn in the top left corner.
    let ymax = if ymax > 0.0 && ymax.is_finite() { ymax * 1.35 } else { 1.0 };
    let x_labels = if int_x { ((x1 - x0) as usize + 1).min(10) } else { 10 };
    let xlab = |v: &f64| {
        if !int_x {
            short_num(*v)
        } else if (v - v.round()).abs() < 1e-9 {
            format!("{v:.0}")
        } else {
            String::new()
        }
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 380)).into_drawing_area();
        root.fill(&WHITE).map_err(chart_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, (FONT, 18))
            .margin(10)
            .margin_right(24)
            .x_label_area_size(44)
            .y_label_area_size(70)
            .build_cartesian_2d((x0 - pad)..(x1 + pad), 0.0..ymax)
            .map_err(chart_err)?;
        chart
            .configure_mesh()
            .light_line_style(BLACK.mix(0.04))
            .bold_line_style(BLACK.mix(0.12))
            .x_labels(x_labels)
            .y_labels(8)
            .x_label_formatter(&xlab)
            .y_label_formatter(&|v| short_num(*v))
            .x_desc(x_desc)
            .y_desc(y_desc)
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 14))
            .draw()
            .map_err(chart_err)?;
        for s in series {
            let color = s.color;
            chart
                .draw_series(LineSeries::new(s.points.iter().copied(), color.stroke_width(2)))
                .map_err(chart_err)?
                .label(s.name.clone())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], color.stroke_width(3)));
            if s.points.len() <= 150 {
                chart.draw_series(s.points.iter().map(|&p| Circle::new(p, 3, color.filled()))).map_err(chart_err)?;
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .label_font((FONT, 13))
            .draw()
            .map_err(chart_err)?;
        root.present().map_err(chart_err)?;
    }
    Ok(svg)
}

/// An axis number: few digits, no trailing zeros.
fn short_num(v: f64) -> String {
    let a = v.abs();
    let s = if a == 0.0 {
        "0".to_string()
    } else if a >= 1e12 {
        format!("{v:.3e}")
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    };
    if s.contains('.') && !s.contains('e') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            _ => o.push(c),
        }
    }
    o
}

/// Escapes text and turns markdown `code` spans into `<code>` and
/// `**bold**` into `<strong>`.
fn esc_md(s: &str) -> String {
    let mut o = String::new();
    for (i, part) in s.split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(o, "<code>{}</code>", esc(part));
        } else {
            let pieces: Vec<&str> = part.split("**").collect();
            for (j, p) in pieces.iter().enumerate() {
                if j % 2 == 0 {
                    o.push_str(&esc(p));
                } else if j + 1 < pieces.len() || pieces.len() % 2 == 1 {
                    let _ = write!(o, "<strong>{}</strong>", esc(p));
                } else {
                    // An unpaired `**` stays as it is.
                    let _ = write!(o, "**{}", esc(p));
                }
            }
        }
    }
    o
}

/// An HTML id from a benchmark id.
fn anchor(id: &str) -> String {
    id.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect()
}

fn unit_desc(unit: Unit) -> String {
    match unit {
        Unit::NsPerOp(op) => format!("ns per {op} (median over runs; lower is better)"),
        Unit::Seconds => "seconds (median over runs; lower is better)".into(),
    }
}

fn fmt_value(unit: Unit, v: f64) -> String {
    match unit {
        Unit::NsPerOp(_) if v >= 100.0 => format!("{v:.0} ns"),
        Unit::NsPerOp(_) => format!("{v:.2} ns"),
        Unit::Seconds => format!("{v:.3} s"),
    }
}

fn opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map_or_else(|| "n/a".to_string(), f)
}

/// The peers' bar chart of a benchmark.
fn peers_chart(br: &BenchResult<'_>, colors: &PeerColors) -> ChartResult {
    let unit = br.bench.unit;
    let subject = br.bench.subject();
    let subject_median = median_of(br, subject, unit).filter(|&v| v > 0.0);
    let bars: Vec<Bar> = br
        .peers
        .iter()
        .filter_map(|p| {
            let m = median_of(br, p.peer.name, unit)?;
            let mut text = fmt_value(unit, m);
            if let Some(sm) = subject_median.filter(|_| p.peer.name != subject) {
                let _ = write!(text, "  ({:.2}× {subject})", m / sm);
            }
            Some(Bar { label: p.peer.name.to_string(), value: m, text, color: colors.get(p.peer.name) })
        })
        .collect();
    bar_chart(br.bench.title, &unit_desc(unit), &bars)
}

fn median_of(br: &BenchResult<'_>, peer: &str, unit: Unit) -> Option<f64> {
    let p = br.peer(peer)?;
    median(&p.samples.iter().map(|s| primary(unit, s)).collect::<Vec<_>>())
}

/// The run whose primary figure is the median among those with a cycle log.
fn median_run(unit: Unit, p: &PeerResult) -> Option<&Sample> {
    let mut v: Vec<&Sample> = p.samples.iter().filter(|s| !s.cycles.is_empty()).collect();
    v.sort_by(|a, b| primary(unit, a).total_cmp(&primary(unit, b)));
    v.get(v.len() / 2).copied()
}

/// Pauses per cycle, heap over time, mark time per cycle.
fn cycle_charts(peer: &str, cycles: &[CycleSample]) -> Result<Vec<String>, String> {
    let pause_max = cycles.iter().map(|c| c.pause_start.max(c.pause_term)).max().unwrap_or_default();
    let (pscale, punit) = if pause_max.as_secs_f64() < 1e-3 { (1e6, "µs") } else { (1e3, "ms") };
    let num = |c: &CycleSample| c.cycle as f64;
    let pauses = line_chart(
        &format!("{peer}: stop-the-world pauses per cycle"),
        "collection cycle",
        &format!("pause ({punit})"),
        true,
        &[
            Series {
                name: "mark start".into(),
                color: PALETTE[0],
                points: cycles.iter().map(|c| (num(c), c.pause_start.as_secs_f64() * pscale)).collect(),
            },
            Series {
                name: "mark termination".into(),
                color: PALETTE[1],
                points: cycles.iter().map(|c| (num(c), c.pause_term.as_secs_f64() * pscale)).collect(),
            },
        ],
    )?;
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    // The heap grows from the last cycle's live size to `heap_before` when a
    // cycle starts (`at - mark`), and drops to `heap_live` when it ends.
    let mut heap = Vec::new();
    let mut goal = Vec::new();
    let mut last_goal: Option<u64> = None;
    for c in cycles {
        let end = c.at.as_secs_f64();
        let start = (end - c.mark.as_secs_f64()).max(0.0);
        heap.push((start, mib(c.heap_before)));
        heap.push((end, mib(c.heap_live)));
        // The goal holds from one cycle's end to the next's (a step).
        if let Some(g) = last_goal {
            goal.push((end, mib(g)));
        }
        goal.push((end, mib(c.goal)));
        last_goal = Some(c.goal);
    }
    let heap = line_chart(
        &format!("{peer}: heap size and goal over time"),
        "time since the heap was created (s)",
        "MiB",
        false,
        &[
            Series { name: "heap (at cycle start, then live after mark)".into(), color: PALETTE[0], points: heap },
            Series { name: "goal (next cycle's trigger)".into(), color: PALETTE[3], points: goal },
        ],
    )?;
    let mark_max = cycles.iter().map(|c| c.mark).max().unwrap_or_default();
    let (mscale, munit) = if mark_max.as_secs_f64() < 1e-3 { (1e6, "µs") } else { (1e3, "ms") };
    let mark = line_chart(
        &format!("{peer}: mark time per cycle (wall, mark start to termination)"),
        "collection cycle",
        &format!("mark ({munit})"),
        true,
        &[Series {
            name: "mark".into(),
            color: PALETTE[2],
            points: cycles.iter().map(|c| (num(c), c.mark.as_secs_f64() * mscale)).collect(),
        }],
    )?;
    Ok(vec![pauses, heap, mark])
}

/// The write-barrier charts: ns per store per mode, and the overhead of
/// each collecting mode over `shade-off`.
fn barrier_charts(br: &BenchResult<'_>, colors: &PeerColors) -> Result<Vec<String>, String> {
    let unit = br.bench.unit;
    let med: Vec<(&str, f64)> = br
        .peers
        .iter()
        .filter_map(|p| Some((p.peer.name, median(&p.samples.iter().map(|s| primary(unit, s)).collect::<Vec<_>>())?)))
        .collect();
    let bars: Vec<Bar> = med
        .iter()
        .map(|&(name, v)| Bar {
            label: name.to_string(),
            value: v,
            text: format!("{v:.2} ns"),
            color: colors.get(name),
        })
        .collect();
    let mut out = vec![bar_chart("ns per store, by barrier mode", "ns per store (median over runs)", &bars)?];
    if let Some(&(_, off)) = med.iter().find(|m| m.0 == "shade-off") {
        let bars: Vec<Bar> = med
            .iter()
            .filter(|m| m.0.starts_with("shade-") && m.0 != "shade-off")
            .map(|&(name, v)| Bar {
                label: name.to_string(),
                value: (v - off).max(0.0),
                text: format!("{:+.2} ns", v - off),
                color: colors.get(name),
            })
            .collect();
        if !bars.is_empty() {
            out.push(bar_chart(
                "barrier overhead per store: mode − shade-off",
                "ns per store over shade-off (no collection running)",
                &bars,
            )?);
        }
    }
    Ok(out)
}

/// A figure, or the error message in its place.
fn figure(out: &mut String, chart: Result<String, String>) {
    match chart {
        Ok(svg) => {
            let _ = writeln!(out, "<figure>{svg}</figure>");
        }
        Err(e) => {
            let _ = writeln!(out, "<p class=\"err\">{}</p>", esc(&e));
        }
    }
}

/// The table of a benchmark's peers.
fn peers_table(out: &mut String, br: &BenchResult<'_>) {
    let unit = br.bench.unit;
    out.push_str(
        "<div class=\"scroll\"><table><thead><tr><th>peer</th><th>median</th><th>min</th><th>CPU (median)</th>\
         <th>peak RSS (max)</th><th>GC cycles</th><th>GC pause max</th><th>runs</th><th class=\"about\">about</th></tr></thead><tbody>\n",
    );
    for p in &br.peers {
        let prim: Vec<f64> = p.samples.iter().map(|s| primary(unit, s)).collect();
        let cpu: Vec<f64> = p.samples.iter().map(|s| s.cpu.as_secs_f64()).collect();
        let rss: Vec<f64> = p.samples.iter().filter_map(|s| s.peak_rss_kb).map(|k| k as f64 / 1024.0).collect();
        let gcs: Vec<_> = p.samples.iter().filter_map(|s| s.outcome.gc).collect();
        let (cycles, pmax) = if gcs.is_empty() {
            ("–".to_string(), "–".to_string())
        } else {
            (
                opt(median(&gcs.iter().map(|g| g.cycles as f64).collect::<Vec<_>>()), |v| format!("{v:.0}")),
                opt(max(&gcs.iter().map(|g| g.pause_max.as_secs_f64() * 1e3).collect::<Vec<_>>()), |v| {
                    format!("{v:.2} ms")
                }),
            )
        };
        let runs = if p.errors.is_empty() {
            p.samples.len().to_string()
        } else {
            format!("{} <span class=\"err\">({} failed)</span>", p.samples.len(), p.errors.len())
        };
        let cls = if p.peer.name == br.bench.subject() { " class=\"subject\"" } else { "" };
        let _ = writeln!(
            out,
            "<tr{cls}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{cycles}</td><td>{pmax}</td>\
             <td>{runs}</td><td class=\"about\">{}</td></tr>",
            esc(p.peer.name),
            opt(median(&prim), |v| fmt_value(unit, v)),
            opt(min(&prim), |v| fmt_value(unit, v)),
            opt(median(&cpu), |v| format!("{v:.3} s")),
            opt(max(&rss), |v| format!("{v:.1} MiB")),
            esc(p.peer.about),
        );
    }
    out.push_str("</tbody></table></div>\n");

    // Named metrics: one row per metric, one column per peer that has any.
    let peers: Vec<&PeerResult> =
        br.peers.iter().filter(|p| p.samples.iter().any(|s| !s.outcome.metrics.is_empty())).collect();
    let mut names: Vec<&str> = Vec::new();
    for p in &peers {
        for s in &p.samples {
            for (k, _) in &s.outcome.metrics {
                if !names.contains(&k.as_str()) {
                    names.push(k);
                }
            }
        }
    }
    if names.is_empty() {
        return;
    }
    out.push_str("<div class=\"scroll\"><table class=\"metrics\"><thead><tr><th>metric (median)</th>");
    for p in &peers {
        let _ = write!(out, "<th>{}</th>", esc(p.peer.name));
    }
    out.push_str("</tr></thead><tbody>\n");
    for name in names {
        let _ = write!(out, "<tr><td>{}</td>", esc(name));
        for p in &peers {
            let v: Vec<f64> =
                p.samples.iter().filter_map(|s| s.outcome.metrics.iter().find(|m| m.0 == name).map(|m| m.1)).collect();
            let _ = write!(out, "<td>{}</td>", opt(median(&v), short_num));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table></div>\n");
}

/// Medians for `workloads::derived`: a peer's metric, or its primary figure.
fn get_median(br: &BenchResult<'_>, peer: &str, key: &str) -> Option<f64> {
    let p = br.peer(peer)?;
    let unit = br.bench.unit;
    let v: Vec<f64> = if key == PRIMARY {
        p.samples.iter().map(|s| primary(unit, s)).collect()
    } else {
        p.samples.iter().filter_map(|s| s.outcome.metrics.iter().find(|m| m.0 == key).map(|m| m.1)).collect()
    };
    median(&v)
}

const STYLE: &str = "\
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0 auto;max-width:1000px;\
padding:1em 1.5em 4em;color:#222;line-height:1.45}\
h1{margin-bottom:.2em}h2{margin-top:2.2em;border-bottom:2px solid #ddd;padding-bottom:.2em}\
h3{margin-top:1.6em}\
ul.meta{padding-left:1.2em;font-size:.92em;color:#444}\
figure{margin:1em 0;border:1px solid #e4e4e4;border-radius:4px;overflow:hidden}\
figure svg{display:block;width:100%;height:auto}\
table{border-collapse:collapse;margin:1em 0;font-size:.88em;width:100%}\
th,td{border:1px solid #ddd;padding:.3em .5em;text-align:right;vertical-align:top;white-space:nowrap}\
th{white-space:normal}th:first-child,td:first-child{text-align:left;white-space:nowrap}\
div.scroll{overflow-x:auto}\
th.about,td.about{text-align:left;color:#555;font-size:.92em;white-space:normal}\
tr.subject td{background:#eef5fb;font-weight:600}\
thead th{background:#f4f4f4}\
code{background:#f3f3f3;padding:0 .2em;border-radius:3px;font-size:.92em}\
pre{background:#f7f7f7;padding:.6em;overflow-x:auto;font-size:.85em}\
.err{color:#b00020;font-weight:600}\
nav a{margin-right:.8em;white-space:nowrap}\
p.note{color:#555;font-size:.92em}";

/// Renders the whole page.
pub fn render(results: &Results<'_>, plan: &Plan, machine: &Machine, command: &str) -> String {
    let mut out = String::new();
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(out, "<title>Shade benchmark results, {}</title>", esc(&machine.date));
    let _ = writeln!(out, "<style>{STYLE}</style>\n</head>\n<body>");
    out.push_str("<h1>Shade benchmark results</h1>\n<ul class=\"meta\">\n");
    let _ = writeln!(out, "<li>date: {}</li>", esc(&machine.date));
    let _ = writeln!(out, "<li>machine: {}</li>", esc(&machine.describe()));
    let _ = writeln!(
        out,
        "<li>load average (1/5/15 min): {} at start, {} at end</li>",
        esc(machine.load_at_start.as_deref().unwrap_or("n/a")),
        esc(Machine::loadavg().as_deref().unwrap_or("n/a"))
    );
    let _ = writeln!(
        out,
        "<li>build: shade-bench {} ({})</li>",
        env!("CARGO_PKG_VERSION"),
        if cfg!(debug_assertions) { "DEBUG build: numbers are meaningless" } else { "release" }
    );
    let _ = writeln!(out, "<li>command: <code>{}</code></li>", esc(command));
    let _ = writeln!(
        out,
        "<li>{} repetition{} per peer, each run in a fresh child process; suite took {:.1} s</li>",
        plan.reps,
        if plan.reps == 1 { "" } else { "s" },
        results.elapsed.as_secs_f64()
    );
    out.push_str("</ul>\n<nav>");
    for br in &results.benches {
        let _ = write!(out, "<a href=\"#{}\">{}</a> ", anchor(br.bench.id), esc(br.bench.id));
    }
    out.push_str("</nav>\n");

    let problems = results.problems();
    if !problems.is_empty() {
        out.push_str("<h2>Problems</h2>\n<ul>\n");
        for p in &problems {
            let _ = writeln!(out, "<li class=\"err\">{}</li>", esc(p));
        }
        out.push_str("</ul>\n");
    }

    let colors = PeerColors::of(results);
    out.push_str("<h2 id=\"peers\">Peers side by side</h2>\n");
    out.push_str(
        "<p class=\"note\">Each benchmark's primary figure per peer, median over the runs; the \
         ratio to the subject (Shade, or its default mode) follows each value. Lower is better.</p>\n",
    );
    for br in &results.benches {
        if br.peers.iter().any(|p| !p.samples.is_empty()) {
            figure(&mut out, peers_chart(br, &colors));
        }
    }

    for br in &results.benches {
        let b = br.bench;
        let _ = writeln!(out, "<h2 id=\"{}\">{}</h2>", anchor(b.id), esc(b.title));
        let _ = writeln!(out, "<p>{}</p>", esc_md(&(b.about)(&plan.params)));
        peers_table(&mut out, br);
        let derived = workloads::derived(b.id, &|peer, key| get_median(br, peer, key));
        let checks = if br.checksums_agree() {
            "checksums: all peers and runs agree".to_string()
        } else {
            "<span class=\"err\">checksums: MISMATCH between peers or runs</span>".to_string()
        };
        out.push_str("<ul>\n");
        for d in derived {
            let _ = writeln!(out, "<li>{}</li>", esc_md(&d));
        }
        let _ = writeln!(out, "<li>{checks}</li>\n</ul>");
        if b.id == WRITE_BARRIER {
            match barrier_charts(br, &colors) {
                Ok(v) => v.into_iter().for_each(|svg| figure(&mut out, Ok(svg))),
                Err(e) => figure(&mut out, Err(e)),
            }
        }
        // The collector's cycles: the subject's, else the first peer's that
        // reported any.
        let subject = b.subject();
        let with_cycles = br
            .peer(subject)
            .filter(|p| p.samples.iter().any(|s| !s.cycles.is_empty()))
            .or_else(|| br.peers.iter().find(|p| p.samples.iter().any(|s| !s.cycles.is_empty())));
        if let Some(p) = with_cycles {
            if let Some(s) = median_run(b.unit, p) {
                let _ = writeln!(
                    out,
                    "<h3>{}'s collector, median run ({} cycle{}{})</h3>",
                    esc(p.peer.name),
                    s.cycles.len(),
                    if s.cycles.len() == 1 { "" } else { "s" },
                    s.outcome.gc.map_or(String::new(), |g| if g.cycles as usize > s.cycles.len() {
                        format!(" logged of {}", g.cycles)
                    } else {
                        String::new()
                    })
                );
                match cycle_charts(p.peer.name, &s.cycles) {
                    Ok(v) => v.into_iter().for_each(|svg| figure(&mut out, Ok(svg))),
                    Err(e) => figure(&mut out, Err(e)),
                }
            }
        }
        if let Some(s) = br.peers.iter().flat_map(|p| &p.samples).find(|s| !s.outcome.lines.is_empty()) {
            out.push_str("<details><summary>Output (identical for every peer)</summary><pre>");
            for l in &s.outcome.lines {
                let _ = writeln!(out, "{}", esc(l));
            }
            out.push_str("</pre></details>\n");
        }
    }
    out.push_str("</body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn cycles(n: u64) -> Vec<CycleSample> {
        (1..=n)
            .map(|i| CycleSample {
                cycle: i,
                at: Duration::from_millis(10 * i),
                heap_before: (8 + i) << 20,
                heap_live: 4 << 20,
                goal: (8 + i + 1) << 20,
                pause_start: Duration::from_micros(20 + i),
                pause_term: Duration::from_micros(40 + 2 * i),
                mark: Duration::from_millis(2),
            })
            .collect()
    }

    #[test]
    fn charts_are_svg_with_their_text() {
        let bars = [
            Bar { label: "shade".into(), value: 1.5, text: "1.500 s".into(), color: PALETTE[0] },
            Bar { label: "gc-arena".into(), value: 3.0, text: "3.000 s (2.00× shade)".into(), color: PALETTE[1] },
        ];
        let svg = bar_chart("binary-trees <&>", "seconds", &bars).unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{svg}");
        assert!(svg.contains("gc-arena") && svg.contains("2.00× shade"));
        assert!(svg.contains("&lt;&amp;&gt;"), "caption is escaped");
        let v = cycle_charts("shade", &cycles(30)).unwrap();
        assert_eq!(v.len(), 3);
        assert!(v.iter().all(|s| s.contains("<polyline") || s.contains("<path")));
        assert!(v[0].contains("µs"), "small pauses are shown in µs");
        // Degenerate inputs still draw.
        assert!(cycle_charts("shade", &cycles(1)).is_ok());
        assert!(bar_chart("empty", "x", &[]).is_ok());
    }

    #[test]
    fn escaping_and_numbers() {
        assert_eq!(esc_md("a `<b>` c"), "a <code>&lt;b&gt;</code> c");
        assert_eq!(esc_md("x **2×** y `**`"), "x <strong>2×</strong> y <code>**</code>");
        assert_eq!(esc_md("a ** b"), "a ** b");
        assert_eq!(short_num(2.50), "2.5");
        assert_eq!(short_num(1234.0), "1234");
        assert_eq!(short_num(0.0), "0");
        assert_eq!(anchor("stores-quiet"), "stores-quiet");
    }
}
