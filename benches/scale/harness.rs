//! A tiny benchmark harness on `std::time::Instant`: warm-up runs, timed repetitions, and a
//! report of the median with its spread. Each benchmark times its own region and returns a
//! [`Sample`], so setup (temp dirs, plan generation, server start) is never counted.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// Command-line options: `[--quick] [--runs N] [FILTER]...` (cargo's own `--bench` flag is
/// ignored).
#[derive(Debug, Default)]
pub struct Options {
    /// Fewer repetitions and no 10,000-step sizes: a smoke run of every benchmark.
    pub quick: bool,
    /// Exactly this many timed runs and no warm-up (for very slow cases).
    runs: Option<usize>,
    /// Run only benchmarks whose name contains one of these.
    filters: Vec<String>,
}

impl Options {
    /// Parses the process arguments.
    pub fn from_args() -> Self {
        let mut options = Self::default();
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--quick" => options.quick = true,
                "--runs" => match args.next().and_then(|n| n.parse().ok()).filter(|&n| n > 0) {
                    Some(n) => options.runs = Some(n),
                    None => {
                        eprintln!("--runs needs a positive number");
                        std::process::exit(2);
                    }
                },
                "--bench" => {}
                "-h" | "--help" => {
                    println!(
                        "usage: cargo bench --bench scale -- [--quick] [--runs N] [FILTER]...\n\
                         runs the benchmarks whose name contains a FILTER (all without one);\n\
                         --quick: 3 runs each, no 10,000-step sizes; --runs N: N runs, no warm-up"
                    );
                    std::process::exit(0);
                }
                flag if flag.starts_with('-') => {
                    eprintln!("unknown option {flag}; try --help");
                    std::process::exit(2);
                }
                filter => options.filters.push(filter.to_owned()),
            }
        }
        options
    }

    /// Whether the benchmark `name` is selected.
    pub fn wants(&self, name: &str) -> bool {
        self.filters.is_empty() || self.filters.iter().any(|f| name.contains(f.as_str()))
    }

    /// Whether a benchmark at size `n` runs in this mode.
    pub fn size_enabled(&self, n: usize) -> bool {
        !self.quick || n <= 1_000
    }

    /// `(warm-up runs, timed runs)`; a heavy benchmark (seconds per run) gets fewer.
    pub fn reps(&self, heavy: bool) -> (usize, usize) {
        if let Some(runs) = self.runs {
            return (0, runs);
        }
        match (self.quick, heavy) {
            (true, _) => (0, 3),
            (false, false) => (2, 7),
            (false, true) => (1, 3),
        }
    }
}

/// What one timed run measured: the whole region and optional named parts of it.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// The timed region.
    pub elapsed: Duration,
    /// Parts reported on their own lines: (name, time, units the time covers).
    pub parts: Vec<(&'static str, Duration, u64)>,
}

impl Sample {
    /// A sample of one region without parts.
    pub fn of(elapsed: Duration) -> Self {
        Self {
            elapsed,
            parts: Vec::new(),
        }
    }

    /// Adds a named part.
    pub fn part(mut self, name: &'static str, elapsed: Duration, units: u64) -> Self {
        self.parts.push((name, elapsed, units));
        self
    }
}

/// Times `f` and returns what it returned with the elapsed time.
pub fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let value = f();
    (value, start.elapsed())
}

/// One benchmark: its name, and how many `unit`s one run processes (for per-unit costs).
pub struct Bench<'a> {
    /// Full name, e.g. `state/transition/steps=1000`.
    pub name: String,
    /// What one unit is, e.g. `step` or `request`.
    pub unit: &'a str,
    /// Units per run.
    pub units: u64,
    /// A heavy benchmark gets fewer repetitions.
    pub heavy: bool,
}

impl Bench<'_> {
    /// Runs `f` for warm-up and the timed repetitions and prints the report. Returns the
    /// median elapsed time, or `None` when the benchmark is filtered out.
    pub fn run(self, options: &Options, mut f: impl FnMut() -> Sample) -> Option<Duration> {
        if !options.wants(&self.name) {
            return None;
        }
        let (warmup, reps) = options.reps(self.heavy);
        for _ in 0..warmup {
            f();
        }
        let samples: Vec<Sample> = (0..reps).map(|_| f()).collect();
        let totals: Vec<Duration> = samples.iter().map(|s| s.elapsed).collect();
        let median = median(&totals);
        println!("{}", self.line(&totals));
        let part_names: Vec<&'static str> = samples
            .first()
            .map(|s| s.parts.iter().map(|p| p.0).collect())
            .unwrap_or_default();
        for (i, part) in part_names.iter().enumerate() {
            let times: Vec<Duration> = samples.iter().map(|s| s.parts[i].1).collect();
            let units = samples[0].parts[i].2;
            println!(
                "    {}",
                describe(&format!("· {part}"), &times, self.unit, units)
            );
        }
        Some(median)
    }

    fn line(&self, totals: &[Duration]) -> String {
        describe(&self.name, totals, self.unit, self.units)
    }
}

/// `name  median [min … max] ±spread  per-unit  units/s  (n runs)`.
fn describe(name: &str, times: &[Duration], unit: &str, units: u64) -> String {
    let median = median(times);
    let min = times.iter().min().copied().unwrap_or_default();
    let max = times.iter().max().copied().unwrap_or_default();
    let spread = if median.is_zero() {
        0.0
    } else {
        (max - min).as_secs_f64() / median.as_secs_f64() * 100.0
    };
    let mut out = format!(
        "{name:<44} {:>10}  [{} … {}] spread {spread:>4.1}%",
        fmt(median),
        fmt(min),
        fmt(max)
    );
    if units > 0 {
        let per = median / u32::try_from(units).unwrap_or(u32::MAX);
        let rate = units as f64 / median.as_secs_f64();
        let _ = write!(
            out,
            "  {:>9}/{unit}  {:>9} {unit}/s",
            fmt(per),
            rate_fmt(rate)
        );
    }
    let _ = write!(out, "  ({} runs)", times.len());
    out
}

/// The median (the lower middle for an even count).
pub fn median(times: &[Duration]) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort_unstable();
    sorted
        .get(sorted.len().saturating_sub(1) / 2)
        .copied()
        .unwrap_or_default()
}

/// A duration with three significant digits and a unit that fits.
pub fn fmt(d: Duration) -> String {
    let ns = d.as_nanos() as f64;
    let (value, unit) = if ns < 1e3 {
        (ns, "ns")
    } else if ns < 1e6 {
        (ns / 1e3, "µs")
    } else if ns < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    let digits = if value < 10.0 {
        2
    } else if value < 100.0 {
        1
    } else {
        0
    };
    format!("{value:.digits$} {unit}")
}

fn rate_fmt(rate: f64) -> String {
    if rate >= 1e6 {
        format!("{:.2}M", rate / 1e6)
    } else if rate >= 1e4 {
        format!("{:.1}k", rate / 1e3)
    } else {
        format!("{rate:.0}")
    }
}
