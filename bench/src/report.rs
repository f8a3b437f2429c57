//! Shared by every suite: one JSON object per line on stdout, and latency statistics.
//!
//! Line format: `{"suite","metric","value","unit","baseline","goal"}`. `baseline` is the
//! peer figure measured in the same run (or null); `goal` is a number, a short string
//! such as `"<= 1.5x"`, or null. Everything else goes to stderr.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// What a metric should reach.
#[derive(Debug, Clone, Copy)]
pub enum Goal {
    /// No goal.
    None,
    /// A number the value should not exceed (in the metric's unit).
    AtMost(f64),
    /// A goal stated as text, e.g. `"<= 1.5x"`.
    Text(&'static str),
}

/// Prints the lines of one suite.
#[derive(Debug, Clone, Copy)]
pub struct Reporter {
    suite: &'static str,
}

impl Reporter {
    pub fn new(suite: &'static str) -> Self {
        Reporter { suite }
    }

    /// Print one metric line.
    pub fn emit(&self, metric: &str, value: f64, unit: &str, baseline: Option<f64>, goal: Goal) {
        let goal = match goal {
            Goal::None => Value::Null,
            Goal::AtMost(n) => number(n),
            Goal::Text(s) => Value::from(s),
        };
        let line = json!({
            "suite": self.suite,
            "metric": metric,
            "value": number(value),
            "unit": unit,
            "baseline": baseline.map_or(Value::Null, number),
            "goal": goal,
        });
        println!("{line}");
    }
}

/// A JSON number: integral values as integers, others to four decimals (0.1 µs in ms).
fn number(v: f64) -> Value {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 9.0e15 {
        Value::from(v as i64)
    } else {
        let r = (v * 1e4).round() / 1e4;
        serde_json::Number::from_f64(r).map_or(Value::Null, Value::Number)
    }
}

/// Latency samples.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    ms: Vec<f64>,
}

impl Samples {
    pub fn with_capacity(n: usize) -> Self {
        Samples {
            ms: Vec::with_capacity(n),
        }
    }

    pub fn push(&mut self, d: Duration) {
        self.ms.push(d.as_secs_f64() * 1e3);
    }

    /// The `p`-th percentile (0..=100) in milliseconds, nearest rank.
    pub fn percentile(&self, p: f64) -> f64 {
        if self.ms.is_empty() {
            return f64::NAN;
        }
        let mut v = self.ms.clone();
        v.sort_by(f64::total_cmp);
        let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
        v[rank.clamp(1, v.len()) - 1]
    }

    pub fn len(&self) -> usize {
        self.ms.len()
    }

    /// Add every sample of `other`.
    pub fn extend(&mut self, other: &Samples) {
        self.ms.extend_from_slice(&other.ms);
    }

    pub fn p50(&self) -> f64 {
        self.percentile(50.0)
    }

    pub fn p99(&self) -> f64 {
        self.percentile(99.0)
    }

    pub fn mean(&self) -> f64 {
        self.ms.iter().sum::<f64>() / self.ms.len().max(1) as f64
    }
}

/// Run `f` and return its result with the time it took.
pub fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let t = Instant::now();
    let out = f();
    (out, t.elapsed())
}

/// A positive integer from the environment, or `default`.
pub fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(s) => match s.trim().replace('_', "").parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => {
                eprintln!("ignoring {name}={s:?}: not a positive integer");
                default
            }
        },
        Err(_) => default,
    }
}
