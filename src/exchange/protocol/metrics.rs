//! How a worker's task metrics travel: a table of the metric values dfshm carries (DataFusion's
//! and datafusion-distributed's custom ones), each a tag, whether it has a name, and up to three
//! numbers; then what every metric has (partition, labels, type, category).
//!
//! A value the table does not know (datafusion-distributed's latency percentile sketches) is
//! left out, as datafusion-distributed's own gRPC codec does. A kind is added with one row.

use super::{Decoder, Encoder, Malformed};
use datafusion::arrow::temporal_conversions::timestamp_ns_to_datetime;
use datafusion::physical_plan::metrics::{
    Count, CustomMetricValue, Gauge, Label, Metric, MetricCategory, MetricType, MetricValue,
    MetricsSet, PruningMetrics, RatioMetrics, Time, Timestamp,
};
use datafusion_distributed::{
    AvgLatencyMetric, BytesCounterMetric, FirstLatencyMetric, MaxGaugeMetric, MaxLatencyMetric,
    MinLatencyMetric,
};
use std::borrow::Cow;
use std::sync::Arc;

/// What a metric value carries besides its kind.
struct Fields {
    name: Cow<'static, str>,
    numbers: [u64; 3],
}

impl Fields {
    fn unnamed(numbers: [usize; 3]) -> Option<Fields> {
        Fields::named(Cow::Borrowed(""), numbers)
    }
    fn named(name: Cow<'static, str>, numbers: [usize; 3]) -> Option<Fields> {
        Some(Fields {
            name,
            numbers: numbers.map(|n| n as u64),
        })
    }
    fn number(&self, index: usize) -> usize {
        self.numbers[index] as usize
    }
}

/// One kind of metric value on the wire.
struct Kind {
    tag: u8,
    /// Whether the value has a name of its own (`Count { name, .. }` has; `OutputRows` not).
    named: bool,
    /// How many of [`Fields::numbers`] it uses.
    numbers: usize,
    /// The fields of a value of this kind; `None` for a value of another kind.
    read: fn(&MetricValue) -> Option<Fields>,
    /// The value of this kind with these fields.
    build: fn(Fields) -> MetricValue,
}

/// A custom value of type `M`, with its name.
fn custom<M: 'static>(value: &MetricValue) -> Option<(&Cow<'static, str>, &M)> {
    match value {
        MetricValue::Custom { name, value } => {
            value.as_any().downcast_ref::<M>().map(|m| (name, m))
        }
        _ => None,
    }
}

fn custom_value(name: Cow<'static, str>, value: impl CustomMetricValue + 'static) -> MetricValue {
    MetricValue::Custom {
        name,
        value: Arc::new(value),
    }
}

fn count_of(n: usize) -> Count {
    let count = Count::new();
    count.add(n);
    count
}

fn gauge_of(n: usize) -> Gauge {
    let gauge = Gauge::new();
    gauge.set(n);
    gauge
}

fn time_of(nanos: usize) -> Time {
    let time = Time::new();
    time.add_duration(std::time::Duration::from_nanos(nanos as u64));
    time
}

/// A timestamp's fields: whether it is set, and its nanoseconds since the epoch.
fn timestamp_fields(timestamp: &Timestamp) -> Option<Fields> {
    match timestamp.value().and_then(|t| t.timestamp_nanos_opt()) {
        Some(nanos) => Fields::unnamed([1, nanos as usize, 0]),
        None => Fields::unnamed([0, 0, 0]),
    }
}

fn timestamp_of(fields: &Fields) -> Timestamp {
    let timestamp = Timestamp::new();
    if fields.numbers[0] == 1
        && let Some(time) = timestamp_ns_to_datetime(fields.numbers[1] as i64)
    {
        timestamp.set(time.and_utc());
    }
    timestamp
}

/// A kind whose value is one count, gauge or time with no name of its own.
macro_rules! unnamed {
    ($tag:literal, $variant:ident, $of:ident) => {
        Kind {
            tag: $tag,
            named: false,
            numbers: 1,
            read: |v| match v {
                MetricValue::$variant(m) => Fields::unnamed([m.value(), 0, 0]),
                _ => None,
            },
            build: |f| MetricValue::$variant($of(f.number(0))),
        }
    };
}

/// A kind whose value is one named count, gauge or time (in field `$field`).
macro_rules! named {
    ($tag:literal, $variant:ident, $field:ident, $of:ident) => {
        Kind {
            tag: $tag,
            named: true,
            numbers: 1,
            read: |v| match v {
                MetricValue::$variant { name, $field } => {
                    Fields::named(name.clone(), [$field.value(), 0, 0])
                }
                _ => None,
            },
            build: |f| MetricValue::$variant {
                $field: $of(f.number(0)),
                name: f.name,
            },
        }
    };
}

/// A kind of custom value with one number (its `value()`), made again by `$make`.
macro_rules! custom_one {
    ($tag:literal, $type:ty, $make:expr) => {
        Kind {
            tag: $tag,
            named: true,
            numbers: 1,
            read: |v| {
                custom::<$type>(v).and_then(|(n, m)| Fields::named(n.clone(), [m.value(), 0, 0]))
            },
            build: |f| {
                let number = f.number(0);
                custom_value(f.name, $make(number))
            },
        }
    };
}

/// One row per kind; tags never change meaning (both ends are the same build, but a stale
/// worker must fail to decode, not decode wrongly).
const KINDS: &[Kind] = &[
    unnamed!(1, OutputRows, count_of),
    unnamed!(2, ElapsedCompute, time_of),
    unnamed!(3, SpillCount, count_of),
    unnamed!(4, SpilledBytes, count_of),
    unnamed!(5, OutputBytes, count_of),
    unnamed!(6, OutputBatches, count_of),
    unnamed!(7, SpilledRows, count_of),
    unnamed!(8, CurrentMemoryUsage, gauge_of),
    named!(9, Count, count, count_of),
    named!(10, Gauge, gauge, gauge_of),
    named!(11, PeakMemoryUsage, gauge, gauge_of),
    named!(12, Time, time, time_of),
    Kind {
        tag: 13,
        named: false,
        numbers: 2,
        read: |v| match v {
            MetricValue::StartTimestamp(t) => timestamp_fields(t),
            _ => None,
        },
        build: |f| MetricValue::StartTimestamp(timestamp_of(&f)),
    },
    Kind {
        tag: 14,
        named: false,
        numbers: 2,
        read: |v| match v {
            MetricValue::EndTimestamp(t) => timestamp_fields(t),
            _ => None,
        },
        build: |f| MetricValue::EndTimestamp(timestamp_of(&f)),
    },
    Kind {
        tag: 15,
        named: true,
        numbers: 3,
        read: |v| match v {
            MetricValue::PruningMetrics {
                name,
                pruning_metrics: m,
            } => Fields::named(name.clone(), [m.pruned(), m.matched(), m.fully_matched()]),
            _ => None,
        },
        build: |f| {
            let pruning_metrics = PruningMetrics::new();
            pruning_metrics.add_pruned(f.number(0));
            pruning_metrics.add_matched(f.number(1));
            pruning_metrics.add_fully_matched(f.number(2));
            MetricValue::PruningMetrics {
                name: f.name,
                pruning_metrics,
            }
        },
    },
    Kind {
        tag: 16,
        named: true,
        numbers: 2,
        read: |v| match v {
            MetricValue::Ratio {
                name,
                ratio_metrics: m,
            } => Fields::named(name.clone(), [m.part(), m.total(), 0]),
            _ => None,
        },
        build: |f| {
            let ratio_metrics = RatioMetrics::new();
            ratio_metrics.add_part(f.number(0));
            ratio_metrics.add_total(f.number(1));
            MetricValue::Ratio {
                name: f.name,
                ratio_metrics,
            }
        },
    },
    custom_one!(17, BytesCounterMetric, BytesCounterMetric::from_value),
    custom_one!(18, MaxGaugeMetric, MaxGaugeMetric::from_value),
    custom_one!(19, MinLatencyMetric, MinLatencyMetric::from_nanos),
    custom_one!(20, MaxLatencyMetric, MaxLatencyMetric::from_nanos),
    Kind {
        tag: 21,
        named: true,
        numbers: 2,
        read: |v| {
            custom::<AvgLatencyMetric>(v)
                .and_then(|(n, m)| Fields::named(n.clone(), [m.nanos_sum(), m.count(), 0]))
        },
        build: |f| {
            let value = AvgLatencyMetric::from_raw(f.number(0), f.number(1));
            custom_value(f.name, value)
        },
    },
    custom_one!(22, FirstLatencyMetric, FirstLatencyMetric::from_nanos),
];

/// Encodes the metrics of `set` that [`KINDS`] knows.
pub(super) fn encode_set(e: &mut Encoder, set: &MetricsSet) {
    let mut encoded = Encoder::default();
    let mut count = 0;
    for metric in set.iter() {
        let known = KINDS
            .iter()
            .find_map(|kind| (kind.read)(metric.value()).map(|fields| (kind, fields)));
        if let Some((kind, fields)) = known {
            encode_metric(&mut encoded, metric, kind, &fields);
            count += 1;
        }
    }
    e.usize(count);
    e.0.extend_from_slice(&encoded.0);
}

fn encode_metric(e: &mut Encoder, metric: &Metric, kind: &Kind, fields: &Fields) {
    e.u8(kind.tag);
    if kind.named {
        e.str(&fields.name);
    }
    for number in &fields.numbers[..kind.numbers] {
        e.u64(*number);
    }
    match metric.partition() {
        Some(partition) => {
            e.u8(1);
            e.usize(partition);
        }
        None => e.u8(0),
    }
    e.usize(metric.labels().len());
    for label in metric.labels() {
        e.str(label.name());
        e.str(label.value());
    }
    e.u8(match metric.metric_type() {
        MetricType::Summary => 0,
        MetricType::Dev => 1,
    });
    e.u8(match metric.metric_category() {
        None => 0,
        Some(MetricCategory::Rows) => 1,
        Some(MetricCategory::Bytes) => 2,
        Some(MetricCategory::Timing) => 3,
        Some(_) => 0,
    });
}

/// Decodes what [`encode_set`] wrote.
pub(super) fn decode_set(d: &mut Decoder<'_>) -> Result<MetricsSet, Malformed> {
    let count = d.count(4)?;
    let mut set = MetricsSet::new();
    for _ in 0..count {
        set.push(Arc::new(decode_metric(d)?));
    }
    Ok(set)
}

fn decode_metric(d: &mut Decoder<'_>) -> Result<Metric, Malformed> {
    let tag = d.u8()?;
    let kind = KINDS
        .iter()
        .find(|kind| kind.tag == tag)
        .ok_or_else(|| Malformed(format!("metric kind {tag}")))?;
    let name = match kind.named {
        true => Cow::Owned(d.string()?),
        false => Cow::Borrowed(""),
    };
    let mut numbers = [0u64; 3];
    for number in &mut numbers[..kind.numbers] {
        *number = d.u64()?;
    }
    let value = (kind.build)(Fields { name, numbers });
    let partition = match d.u8()? {
        0 => None,
        _ => Some(d.usize()?),
    };
    let labels = (0..d.count(16)?)
        .map(|_| Ok(Label::new(d.string()?, d.string()?)))
        .collect::<Result<Vec<_>, Malformed>>()?;
    let mut metric = Metric::new_with_labels(value, partition, labels);
    metric = metric.with_type(match d.u8()? {
        0 => MetricType::Summary,
        _ => MetricType::Dev,
    });
    metric = match d.u8()? {
        1 => metric.with_category(MetricCategory::Rows),
        2 => metric.with_category(MetricCategory::Bytes),
        3 => metric.with_category(MetricCategory::Timing),
        _ => metric,
    };
    Ok(metric)
}

#[cfg(test)]
mod tests {
    use super::super::Reply;
    use super::*;
    use datafusion_distributed::{P50LatencyMetric, TaskMetrics};

    #[test]
    fn task_metrics_round_trip() {
        let mut node = MetricsSet::new();
        node.push(Arc::new(Metric::new(
            MetricValue::OutputRows(count_of(42)),
            Some(1),
        )));
        node.push(Arc::new(
            Metric::new_with_labels(
                MetricValue::Time {
                    name: "ring_wait".into(),
                    time: time_of(1500),
                },
                None,
                vec![Label::new("task_id", "3")],
            )
            .with_type(MetricType::Summary)
            .with_category(MetricCategory::Timing),
        ));
        node.push(BytesCounterMetric::new_metric("bytes_transferred", 4096));
        let start = Timestamp::new();
        start.record();
        node.push(Arc::new(Metric::new(
            MetricValue::StartTimestamp(start.clone()),
            None,
        )));
        node.push(Arc::new(Metric::new(
            MetricValue::Custom {
                name: "avg".into(),
                value: Arc::new(AvgLatencyMetric::from_raw(300, 3)),
            },
            None,
        )));
        // A sketch is left out rather than sent wrong.
        node.push(Arc::new(Metric::new(
            MetricValue::Custom {
                name: "p50".into(),
                value: Arc::new(P50LatencyMetric::default()),
            },
            None,
        )));
        let reply = Reply::TaskMetrics(TaskMetrics {
            pre_order_plan_metrics: vec![node, MetricsSet::new()],
            task_metrics: MetricsSet::new(),
        });
        let Reply::TaskMetrics(decoded) = Reply::decode(&reply.encode()).unwrap() else {
            panic!("not metrics")
        };
        assert_eq!(decoded.pre_order_plan_metrics.len(), 2);
        let node = &decoded.pre_order_plan_metrics[0];
        let metrics: Vec<_> = node.iter().collect();
        assert_eq!(metrics.len(), 5, "the sketch is dropped, the rest kept");
        assert_eq!(node.output_rows(), Some(42));
        assert_eq!(metrics[0].partition(), Some(1));
        assert_eq!(metrics[1].labels()[0].value(), "3");
        assert_eq!(metrics[1].metric_type(), MetricType::Summary);
        assert_eq!(metrics[1].metric_category(), Some(MetricCategory::Timing));
        match metrics[1].value() {
            MetricValue::Time { name, time } => {
                assert_eq!((name.as_ref(), time.value()), ("ring_wait", 1500))
            }
            other => panic!("{other:?}"),
        }
        match metrics[3].value() {
            MetricValue::StartTimestamp(t) => assert_eq!(t.value(), start.value()),
            other => panic!("{other:?}"),
        }
        assert_eq!(metrics[4].value().as_usize(), 100);
    }

    #[test]
    fn every_kind_reads_back_what_it_builds_and_no_other_kind_claims_it() {
        for kind in KINDS {
            // Valid for every kind: a set timestamp 1 s after the epoch, small counts.
            let numbers = [1, 1_000_000_007, 3];
            let name = Cow::Borrowed(if kind.named { "m" } else { "" });
            let value = (kind.build)(Fields {
                name: name.clone(),
                numbers,
            });
            let read = (kind.read)(&value).unwrap_or_else(|| panic!("tag {}", kind.tag));
            let used = kind.numbers;
            assert_eq!(read.numbers[..used], numbers[..used], "tag {}", kind.tag);
            assert_eq!(read.name, name, "tag {}", kind.tag);
            let first = KINDS.iter().find(|other| (other.read)(&value).is_some());
            assert_eq!(first.map(|other| other.tag), Some(kind.tag));
        }
    }

    #[test]
    fn every_tag_is_used_once() {
        let mut tags: Vec<u8> = KINDS.iter().map(|kind| kind.tag).collect();
        tags.sort();
        tags.dedup();
        assert_eq!(tags.len(), KINDS.len(), "two kinds share a tag");
        assert!(KINDS.iter().all(|kind| kind.numbers <= 3));
    }
}
