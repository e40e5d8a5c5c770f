// A Prometheus histogram for the member's hot paths (every applied request, every WAL write): an
// observation is a bucket search and three additions on a series found once, where prom-client's
// Histogram.observe validates and hashes the labels and makes a closure each time (it showed as
// 1-2% of a 3-member put load's CPU). It needs no prom-client to be observed, so observations made
// before prom-client is loaded are simply kept; once loaded, the registry takes it as a custom
// metric (registerMetric) and prom-client formats it like its own histograms.

/** A metric value in prom-client's shape (what its Registry formats). */
interface MetricValue {
  labels: Record<string, string | number>;
  value: number;
  metricName: string;
}

/** One label set's buckets. */
export class HistogramSeries {
  /** Observations per bucket, not cumulative; the last one is +Inf. */
  private readonly counts: Float64Array;
  private sum = 0;
  private count = 0;

  constructor(
    private readonly bounds: readonly number[],
    readonly labels: Readonly<Record<string, string>>,
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && value > b[i]) i++;
    this.counts[i]++;
    this.sum += value;
    this.count++;
  }

  values(name: string, out: MetricValue[]): void {
    let cumulative = 0;
    for (let i = 0; i <= this.bounds.length; i++) {
      cumulative += this.counts[i];
      out.push({ labels: { le: i < this.bounds.length ? this.bounds[i] : '+Inf', ...this.labels }, value: cumulative, metricName: `${name}_bucket` });
    }
    out.push({ labels: { ...this.labels }, value: this.sum, metricName: `${name}_sum` });
    out.push({ labels: { ...this.labels }, value: this.count, metricName: `${name}_count` });
  }
}

export class HotHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly series = new Map<string, HistogramSeries>();
  private readonly unlabelled: HistogramSeries | undefined;

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: readonly number[],
    private readonly labelNames: readonly string[] = [],
  ) {
    // prom-client shows an unlabelled histogram's zero series before any observation; so do we.
    if (labelNames.length === 0) this.unlabelled = this.labelled({});
  }

  /** The unlabelled series (a histogram declared without label names). */
  observe(value: number): void {
    if (this.unlabelled === undefined) throw new Error(`${this.name} has labels: observe through labelled()`);
    this.unlabelled.observe(value);
  }

  /** The series of one label set (every declared label, in any order); callers keep it. */
  labelled(labels: Record<string, string>): HistogramSeries {
    const key = this.labelNames.map((n) => labels[n] ?? '').join('\u0000');
    let s = this.series.get(key);
    if (s === undefined) {
      for (const n of this.labelNames) if (labels[n] === undefined) throw new Error(`${this.name}: label ${n} missing`);
      s = new HistogramSeries(this.bounds, labels);
      this.series.set(key, s);
    }
    return s;
  }

  /** What prom-client's Registry reads of a metric. */
  get(): { name: string; help: string; type: string; aggregator: string; values: MetricValue[] } {
    const values: MetricValue[] = [];
    for (const s of this.series.values()) s.values(this.name, values);
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}

/** prometheus.ExponentialBuckets(start, factor, count). */
export function exponentialBuckets(start: number, factor: number, count: number): number[] {
  const b: number[] = [];
  for (let i = 0, v = start; i < count; i++, v *= factor) b.push(v);
  return b;
}
