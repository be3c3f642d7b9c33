//! Metrics: lock-free counters, gauges and latency histograms, and their exposition in the
//! Prometheus text format 0.0.4.
//!
//! Owns: the value types (each one atomic, so recording costs an atomic add: no lock and no
//! allocation on a request's path), the latency buckets (50 µs to 5 s), the text writer
//! ([`Exposition`]: `# HELP`, `# TYPE`, samples, label values escaped) and the [`Source`]
//! trait a service implements to write its families. Does not own: which families a service
//! has or what their labels are (each service's), nor serving `/metrics` (the transport's).
//!
//! Our own small writer rather than the `prometheus-client` crate: its labelled families are a
//! map behind a lock, looked up on every increment, which is a lock per request; every label
//! value here comes from a fixed set known at start (routes, outcomes), so plain arrays of
//! atomics do, and the writer is a page of code.

use std::fmt::{Display, Write as _};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// The media type of the exposition (Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A count that only goes up.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub const fn new() -> Self {
        Counter(AtomicU64::new(0))
    }

    pub fn inc(&self) {
        self.add(1);
    }

    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down (live connections).
#[derive(Debug, Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    pub const fn new() -> Self {
        Gauge(AtomicI64::new(0))
    }

    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    pub fn dec(&self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Counters of the outcomes of one kind of operation (an introspection: active, inactive,
/// error), each operation counted once, when it ends.
#[derive(Debug)]
pub struct Outcomes<const N: usize> {
    names: [&'static str; N],
    counts: [Counter; N],
}

impl<const N: usize> Outcomes<N> {
    pub fn new(names: [&'static str; N]) -> Self {
        Outcomes {
            names,
            counts: std::array::from_fn(|_| Counter::new()),
        }
    }

    /// An operation begun: it counts as `if_dropped` unless [`Pending::settle`] says
    /// otherwise before it is dropped, so an operation cut short (a timeout, a cancelled
    /// task) is counted too, exactly once.
    pub fn begin(&self, if_dropped: usize) -> Pending<'_, N> {
        Pending {
            outcomes: self,
            outcome: if_dropped,
        }
    }

    /// Operations that ended with the outcome `name`.
    pub fn get(&self, name: &str) -> u64 {
        let index = self.names.iter().position(|n| *n == name);
        index.map_or(0, |i| self.counts[i].get())
    }

    /// Operations that ended, whatever their outcome.
    pub fn total(&self) -> u64 {
        self.counts.iter().map(Counter::get).sum()
    }

    /// Writes the family `name` with one sample per outcome (label `outcome`), zeros too.
    pub fn write(&self, out: &mut Exposition, name: &str, help: &str) {
        out.family(name, Kind::Counter, help);
        for (outcome, count) in self.names.iter().zip(&self.counts) {
            out.sample(name, &[("outcome", outcome)], count.get());
        }
    }
}

/// An operation under way, counted in its [`Outcomes`] when dropped.
pub struct Pending<'a, const N: usize> {
    outcomes: &'a Outcomes<N>,
    outcome: usize,
}

impl<const N: usize> Pending<'_, N> {
    /// The outcome to count when this is dropped.
    pub fn settle(&mut self, outcome: usize) {
        self.outcome = outcome;
    }
}

impl<const N: usize> Drop for Pending<'_, N> {
    fn drop(&mut self) {
        if let Some(count) = self.outcomes.counts.get(self.outcome) {
            count.inc();
        }
    }
}

/// Upper bounds of the latency buckets, in microseconds: 50 µs to 5 s.
pub const LATENCY_BUCKETS_MICROS: [u64; 16] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000,
];
/// The same bounds as the exposition writes them (`le`, in seconds).
const LATENCY_BUCKET_LABELS: [&str; 16] = [
    "0.00005", "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
    "0.1", "0.25", "0.5", "1", "2.5", "5",
];

/// A histogram of durations over [`LATENCY_BUCKETS_MICROS`]. Each observation lands in one
/// bucket (the cumulative counts are summed when written), so recording is two atomic adds.
#[derive(Debug, Default)]
pub struct Histogram {
    /// Observations per bucket, not cumulative; the last one is beyond 5 s (`+Inf`).
    buckets: [AtomicU64; LATENCY_BUCKETS_MICROS.len() + 1],
    sum_nanos: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        // `le` is inclusive: a duration equal to a bound falls in that bound's bucket.
        let index = LATENCY_BUCKETS_MICROS.partition_point(|&bound| bound < micros);
        self.buckets[index].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }
}

/// What a metric family is (`# TYPE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// Something that has metric families to expose: a service.
pub trait Source: Send + Sync + 'static {
    fn write_metrics(&self, out: &mut Exposition);
}

/// The text of one scrape, written family by family.
#[derive(Debug, Default)]
pub struct Exposition {
    text: String,
}

impl Exposition {
    pub fn new() -> Self {
        Exposition::default()
    }

    /// Starts a family: its `# HELP` and `# TYPE` lines. Its samples follow.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let help = Escaped {
            text: help,
            quoted: false,
        };
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} {}", kind.name());
    }

    /// One sample line.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Display) {
        self.text.push_str(name);
        self.push_labels(labels, None);
        let _ = writeln!(self.text, " {value}");
    }

    /// A family of one unlabelled counter.
    pub fn counter(&mut self, name: &str, help: &str, value: u64) {
        self.family(name, Kind::Counter, help);
        self.sample(name, &[], value);
    }

    /// A family of one unlabelled gauge.
    pub fn gauge(&mut self, name: &str, help: &str, value: i64) {
        self.family(name, Kind::Gauge, help);
        self.sample(name, &[], value);
    }

    /// The samples of one histogram series (`_bucket` per bound and `+Inf`, `_sum` in
    /// seconds, `_count`), under a family started with [`Exposition::family`].
    pub fn histogram(&mut self, name: &str, labels: &[(&str, &str)], histogram: &Histogram) {
        let mut cumulative = 0u64;
        let bounds = LATENCY_BUCKET_LABELS.iter().copied().chain(["+Inf"]);
        for (bucket, le) in histogram.buckets.iter().zip(bounds) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = write!(self.text, "{name}_bucket");
            self.push_labels(labels, Some(le));
            let _ = writeln!(self.text, " {cumulative}");
        }
        let sum = histogram.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = write!(self.text, "{name}_sum");
        self.push_labels(labels, None);
        let _ = writeln!(self.text, " {sum}");
        let _ = write!(self.text, "{name}_count");
        self.push_labels(labels, None);
        let _ = writeln!(self.text, " {cumulative}");
    }

    fn push_labels(&mut self, labels: &[(&str, &str)], le: Option<&str>) {
        if labels.is_empty() && le.is_none() {
            return;
        }
        self.text.push('{');
        let all = labels.iter().copied().chain(le.map(|le| ("le", le)));
        for (i, (name, value)) in all.enumerate() {
            if i > 0 {
                self.text.push(',');
            }
            let value = Escaped {
                text: value,
                quoted: true,
            };
            let _ = write!(self.text, "{name}=\"{value}\"");
        }
        self.text.push('}');
    }

    /// The whole text.
    pub fn finish(self) -> String {
        self.text
    }
}

/// Text as the format wants it: backslash and newline escaped, and in a label value
/// (`quoted`) the double quote too.
struct Escaped<'a> {
    text: &'a str,
    quoted: bool,
}

impl Display for Escaped<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for c in self.text.chars() {
            match c {
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                '"' if self.quoted => f.write_str("\\\"")?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duration_lands_in_the_first_bucket_whose_bound_it_does_not_exceed() {
        let histogram = Histogram::default();
        histogram.observe(Duration::from_micros(50));
        histogram.observe(Duration::from_micros(51));
        histogram.observe(Duration::from_secs(6));
        let mut out = Exposition::new();
        out.family("t_seconds", Kind::Histogram, "test");
        out.histogram("t_seconds", &[("route", "/a")], &histogram);
        let text = out.finish();
        assert!(
            text.contains("t_seconds_bucket{route=\"/a\",le=\"0.00005\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("t_seconds_bucket{route=\"/a\",le=\"0.0001\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("t_seconds_bucket{route=\"/a\",le=\"5\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("t_seconds_bucket{route=\"/a\",le=\"+Inf\"} 3\n"),
            "{text}"
        );
        assert!(text.contains("t_seconds_count{route=\"/a\"} 3\n"), "{text}");
        assert!(
            text.contains("t_seconds_sum{route=\"/a\"} 6.000101\n"),
            "{text}"
        );
    }

    #[test]
    fn an_operation_is_counted_once_with_its_outcome_or_the_fallback_when_dropped() {
        let outcomes = Outcomes::new(["ok", "error"]);
        let mut done = outcomes.begin(1);
        done.settle(0);
        drop(done);
        drop(outcomes.begin(1));
        assert_eq!((outcomes.get("ok"), outcomes.get("error")), (1, 1));
        assert_eq!(outcomes.total(), 2);
    }

    #[test]
    fn label_values_and_help_are_escaped() {
        let mut out = Exposition::new();
        out.family("t_total", Kind::Counter, "a\\b\nc");
        out.sample("t_total", &[("l", "q\"\\\n")], 1);
        assert_eq!(
            out.finish(),
            "# HELP t_total a\\\\b\\nc\n# TYPE t_total counter\nt_total{l=\"q\\\"\\\\\\n\"} 1\n"
        );
    }
}
