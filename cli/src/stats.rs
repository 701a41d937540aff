//! Latency percentiles and a text histogram, over an HDR histogram.

use std::{fmt::Write, time::Duration};

use hdrhistogram::Histogram;

const BUCKETS: usize = 8;
const BAR_WIDTH: usize = 40;

/// What the histogram counts in: tenths of a microsecond, the precision the
/// report prints.
const TICK_NANOS: u64 = 100;

/// Round-trip times, kept to three significant digits (within 0.1%) in
/// memory that grows with the range of the times, not their number.
#[derive(Debug)]
pub(crate) struct Latencies(Histogram<u64>);

impl Default for Latencies {
    fn default() -> Self {
        // Three significant digits and a range that grows as needed: valid
        // settings, which cannot fail.
        Self(Histogram::new(3).expect("three significant digits"))
    }
}

impl Latencies {
    pub(crate) fn record(&mut self, latency: Duration) {
        let ticks = latency.as_nanos() / u128::from(TICK_NANOS);
        let ticks = u64::try_from(ticks).unwrap_or(u64::MAX);
        // `record` grows the histogram; only a time past what it can ever
        // hold (centuries) is kept as the longest it can.
        if self.0.record(ticks).is_err() {
            self.0.saturating_record(ticks);
        }
    }

    /// Adds the times `other` recorded.
    pub(crate) fn add(&mut self, other: &Self) {
        // Cannot fail: this histogram grows to hold any value.
        let _ = self.0.add(&other.0);
    }

    pub(crate) fn len(&self) -> u64 {
        self.0.len()
    }

    /// A recorded value, as the smallest time it stands for.
    fn duration(&self, ticks: u64) -> Duration {
        Duration::from_nanos(self.0.lowest_equivalent(ticks).saturating_mul(TICK_NANOS))
    }

    /// The nearest-rank percentile: the smallest sample that at least
    /// `percent`% of the samples do not exceed.
    fn percentile(&self, percent: f64) -> Duration {
        self.duration(self.0.value_at_quantile(percent / 100.0))
    }

    fn min(&self) -> Duration {
        self.duration(self.0.min())
    }

    fn max(&self) -> Duration {
        self.duration(self.0.max())
    }

    /// The summary line and the histogram; `None` when there is nothing to
    /// describe.
    pub(crate) fn report(&self) -> Option<String> {
        (!self.0.is_empty()).then(|| {
            format!(
                "latency    {}\nhistogram\n{}",
                self.summary(),
                self.histogram()
            )
        })
    }

    /// `min 41.2µs  p50 …  p90 …  p99 …  max 1.3ms`
    fn summary(&self) -> String {
        format!(
            "min {:.1?}  p50 {:.1?}  p90 {:.1?}  p99 {:.1?}  max {:.1?}",
            self.min(),
            self.percentile(50.0),
            self.percentile(90.0),
            self.percentile(99.0),
            self.max()
        )
    }

    /// Counts per bucket, the buckets' bounds growing geometrically from
    /// the fastest sample to the slowest: latencies spread over orders of
    /// magnitude, and a tail would vanish into one linear bucket.
    fn buckets(&self) -> Vec<(Duration, Duration, u64)> {
        let (min, max) = (self.min(), self.max());
        if min == max {
            return vec![(min, max, self.len())];
        }
        let low = min.as_nanos().max(1) as f64;
        let ratio = (max.as_nanos() as f64 / low).powf(1.0 / BUCKETS as f64);
        let bounds: Vec<Duration> = (0..=BUCKETS)
            .map(|i| match i {
                0 => min,
                BUCKETS => max,
                i => Duration::from_nanos((low * ratio.powi(i as i32)).round() as u64),
            })
            .collect();
        let mut counts = [0; BUCKETS];
        let mut bucket = 0;
        // Recorded values come in order: walk them and the buckets together.
        for recorded in self.0.iter_recorded() {
            let sample = self.duration(recorded.value_iterated_to());
            while bucket < BUCKETS - 1 && sample >= bounds[bucket + 1] {
                bucket += 1;
            }
            counts[bucket] += recorded.count_at_value();
        }
        (0..BUCKETS)
            .map(|i| (bounds[i], bounds[i + 1], counts[i]))
            .collect()
    }

    /// One line per bucket: its range, a bar, the count and its share.
    fn histogram(&self) -> String {
        let buckets = self.buckets();
        let most = buckets.iter().map(|&(_, _, n)| n).max().unwrap_or(0).max(1);
        let total = self.len();
        let mut out = String::new();
        for (low, high, count) in buckets {
            let bar = "#".repeat((count * BAR_WIDTH as u64).div_ceil(most) as usize);
            let _ = writeln!(
                out,
                "  {:>9} .. {:<9} {bar:<BAR_WIDTH$} {count:>8} {:>5.1}%",
                format!("{low:.1?}"),
                format!("{high:.1?}"),
                count as f64 * 100.0 / total as f64,
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn micros(values: impl IntoIterator<Item = u64>) -> Latencies {
        let mut latencies = Latencies::default();
        for value in values {
            latencies.record(Duration::from_micros(value));
        }
        latencies
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let latencies = micros((1..=100).rev());
        assert_eq!(latencies.percentile(50.0), Duration::from_micros(50));
        assert_eq!(latencies.percentile(90.0), Duration::from_micros(90));
        assert_eq!(latencies.percentile(99.0), Duration::from_micros(99));
        assert_eq!(latencies.percentile(100.0), Duration::from_micros(100));
        assert_eq!(latencies.percentile(0.0), Duration::from_micros(1));
        let one = micros([7]);
        assert_eq!(one.percentile(99.0), Duration::from_micros(7));
        assert_eq!(
            one.summary(),
            "min 7.0µs  p50 7.0µs  p90 7.0µs  p99 7.0µs  max 7.0µs"
        );
    }

    #[test]
    fn nothing_to_describe_without_samples() {
        assert!(Latencies::default().report().is_none());
    }

    #[test]
    fn buckets_grow_geometrically_and_hold_every_sample() {
        // 1µs .. 256µs: eight buckets, each twice as wide as the one before.
        let latencies = micros([1, 1, 3, 5, 100, 200, 256]);
        let buckets = latencies.buckets();
        assert_eq!(buckets.len(), BUCKETS);
        assert_eq!(buckets[0].0, Duration::from_micros(1));
        assert_eq!(buckets[1].0, Duration::from_micros(2));
        assert_eq!(buckets[BUCKETS - 1].1, Duration::from_micros(256));
        let counts: Vec<u64> = buckets.iter().map(|b| b.2).collect();
        assert_eq!(counts, [2, 1, 1, 0, 0, 0, 1, 2]);
    }

    #[test]
    fn equal_samples_make_one_bucket() {
        let latencies = micros([5, 5, 5]);
        assert_eq!(
            latencies.buckets(),
            [(Duration::from_micros(5), Duration::from_micros(5), 3)]
        );
        let histogram = latencies.histogram();
        assert_eq!(histogram.lines().count(), 1);
        assert!(histogram.contains(&"#".repeat(BAR_WIDTH)), "{histogram}");
        assert!(histogram.contains("100.0%"), "{histogram}");
    }
}
