//! Latencies as a shard records them (`LatencyBuckets`), and as a scrape merges them
//! (`Summary`, an hdrhistogram).
//!
//! A shard counts each latency in log-linear buckets — every microsecond its own below 128 µs,
//! then 64 buckets per power of two, so values within 1/64 (1.6%) of each other may share one —
//! with a leading-zero count, a shift and an add. The scraping thread adds every shard's
//! buckets into one hdrhistogram (each bucket's count at its lowest value), which reads the
//! percentiles and Prometheus' cumulative buckets. Why not record into hdrhistogram on the
//! shard: its `record` took 67 instructions per value (callgrind, `perf/instructions.sh`; a
//! request records two), these buckets take about ten; hdrhistogram does what it is good at,
//! merging and reading, off the request path.
//!
//! Invariant: a value lands in the one bucket whose range holds it (values past
//! `LATENCY_MICROS_MAX` in the last), and a bucket's lowest value is at most 1/64 below any
//! value it counts; the sum is exact.

use hdrhistogram::Histogram;

use crate::limits::{LATENCY_MICROS_MAX, LATENCY_SIGNIFICANT_DIGITS};

/// Buckets per power of two, as a power of two: 2^6 = 64.
const SUB_BUCKET_BITS: u32 = 6;
const SUB_BUCKETS: usize = 1 << SUB_BUCKET_BITS;
/// Values below this have a bucket each.
const EXACT_BELOW: u64 = 2 << SUB_BUCKET_BITS;

/// The bucket of `micros` (at most `LATENCY_MICROS_MAX`).
fn bucket_of(micros: u64) -> usize {
    if micros < EXACT_BELOW {
        return micros as usize;
    }
    // The highest set bit is at EXACT_BELOW's or above: shift ≥ 1, and the top
    // SUB_BUCKET_BITS + 1 bits of `micros` are in 64..128.
    let shift = 63 - micros.leading_zeros() - SUB_BUCKET_BITS;
    ((shift as usize) << SUB_BUCKET_BITS) + (micros >> shift) as usize
}

/// The lowest value bucket `index` counts.
fn lowest_of(index: usize) -> u64 {
    if (index as u64) < EXACT_BELOW {
        return index as u64;
    }
    let shift = (index >> SUB_BUCKET_BITS) - 1;
    let top = (index & (SUB_BUCKETS - 1)) + SUB_BUCKETS;
    (top as u64) << shift
}

/// How many buckets cover values up to `LATENCY_MICROS_MAX`.
const BUCKETS: usize = {
    let shift = 63 - LATENCY_MICROS_MAX.leading_zeros() - SUB_BUCKET_BITS;
    ((shift as usize) << SUB_BUCKET_BITS) + (LATENCY_MICROS_MAX >> shift) as usize + 1
};

/// One histogram of latencies on one shard.
#[derive(Clone, Debug)]
pub(crate) struct LatencyBuckets {
    counts: Box<[u64]>,
    sum_micros: u64,
}

impl LatencyBuckets {
    pub(crate) fn new() -> Self {
        LatencyBuckets {
            counts: vec![0; BUCKETS].into_boxed_slice(),
            sum_micros: 0,
        }
    }

    pub(crate) fn record(&mut self, micros: u64) {
        let micros = micros.min(LATENCY_MICROS_MAX);
        let bucket = bucket_of(micros);
        debug_assert!(
            bucket < self.counts.len(),
            "LATENCY_MICROS_MAX has a bucket"
        );
        if let Some(count) = self.counts.get_mut(bucket) {
            *count += 1;
        }
        self.sum_micros = self.sum_micros.saturating_add(micros);
    }
}

/// Latencies merged from every shard: an hdrhistogram and their exact sum.
#[derive(Clone, Debug)]
pub(crate) struct Summary {
    pub(crate) histogram: Histogram<u64>,
    pub(crate) sum_micros: u64,
}

impl Summary {
    pub(crate) fn new() -> Self {
        Summary {
            // Bounds checked by this module's tests: 1 < max, digits in 0..=5.
            histogram: Histogram::new_with_bounds(
                1,
                LATENCY_MICROS_MAX,
                LATENCY_SIGNIFICANT_DIGITS,
            )
            .expect("the latency bounds are valid (limits::LATENCY_*)"),
            sum_micros: 0,
        }
    }

    /// Adds a shard's buckets.
    pub(crate) fn add(&mut self, buckets: &LatencyBuckets) {
        for (index, &count) in buckets.counts.iter().enumerate() {
            if count > 0 {
                self.histogram.saturating_record_n(lowest_of(index), count);
            }
        }
        self.sum_micros = self.sum_micros.saturating_add(buckets.sum_micros);
    }

    /// How many latencies were recorded.
    pub(crate) fn count(&self) -> u64 {
        self.histogram.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_lands_in_a_bucket_no_more_than_a_sixty_fourth_above_its_lowest() {
        let mut values: Vec<u64> = (0..5_000).collect();
        values.extend(
            (0..40)
                .map(|power| 1u64 << power)
                .filter(|&v| v <= LATENCY_MICROS_MAX),
        );
        values.extend([
            999,
            1_000,
            1_001,
            123_456,
            LATENCY_MICROS_MAX - 1,
            LATENCY_MICROS_MAX,
        ]);
        for value in values {
            let bucket = bucket_of(value);
            assert!(bucket < BUCKETS, "{value}");
            let lowest = lowest_of(bucket);
            assert!(lowest <= value, "{value}: lowest {lowest}");
            assert!(
                (value - lowest) * 64 <= value.max(1),
                "{value}: lowest {lowest} too far below"
            );
            assert_eq!(bucket_of(lowest), bucket, "{value}");
        }
        // Exact below 128 µs; contiguous above.
        assert_eq!(bucket_of(127), 127);
        assert_eq!(bucket_of(128), 128);
        assert_eq!(lowest_of(129), 130);
        assert_eq!(bucket_of(LATENCY_MICROS_MAX), BUCKETS - 1);
    }

    #[test]
    fn summaries_add_shards_and_keep_the_exact_sum() {
        let mut first = LatencyBuckets::new();
        let mut second = LatencyBuckets::new();
        first.record(40);
        second.record(2_000);
        second.record(24 * 3600 * 1_000_000);
        let mut summary = Summary::new();
        summary.add(&first);
        summary.add(&second);
        assert_eq!(summary.count(), 3);
        assert_eq!(summary.sum_micros, 40 + 2_000 + LATENCY_MICROS_MAX);
        assert_eq!(summary.histogram.count_between(0, 50), 1);
        assert_eq!(summary.histogram.count_between(0, 2_000), 2);
    }
}
