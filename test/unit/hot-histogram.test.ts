// Our histogram reads out through prom-client's registry as prom-client's own histogram does.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Histogram, Registry, type Metric } from 'prom-client';
import { HotHistogram, exponentialBuckets } from '../../src/metrics/hot-histogram';

describe('HotHistogram', () => {
  test('text exposition equals prom-client\'s for the same observations', async () => {
    const buckets = exponentialBuckets(0.001, 2, 5);
    const values = [0, 0.001, 0.0011, 0.004, 0.016, 0.017, 3, 0.002];
    const ours = new Registry();
    const theirs = new Registry();
    const hot = new HotHistogram('x_seconds', 'help text', buckets);
    ours.registerMetric(hot as unknown as Metric);
    const prom = new Histogram({ name: 'x_seconds', help: 'help text', buckets, registers: [theirs] });
    for (const v of values) {
      hot.observe(v);
      prom.observe(v);
    }
    assert.equal(await ours.metrics(), await theirs.metrics());
  });

  test('labelled series are kept apart and each reads out whole', async () => {
    const buckets = [0.1, 1];
    const ours = new Registry();
    const theirs = new Registry();
    const hot = new HotHistogram('y', 'h', buckets, ['op', 'success']);
    ours.registerMetric(hot as unknown as Metric);
    const prom = new Histogram({ name: 'y', help: 'h', buckets, labelNames: ['op', 'success'], registers: [theirs] });
    const a = hot.labelled({ op: 'Put', success: 'true' });
    assert.equal(hot.labelled({ success: 'true', op: 'Put' }), a);
    a.observe(0.05);
    a.observe(2);
    hot.labelled({ op: 'Range', success: 'false' }).observe(0.5);
    prom.labels({ op: 'Put', success: 'true' }).observe(0.05);
    prom.labels({ op: 'Put', success: 'true' }).observe(2);
    prom.labels({ op: 'Range', success: 'false' }).observe(0.5);
    const sorted = (t: string): string[] => t.split('\n').sort();
    assert.deepEqual(sorted(await ours.metrics()), sorted(await theirs.metrics()));
    assert.throws(() => hot.observe(1), /labelled/);
    assert.throws(() => hot.labelled({ op: 'Put' }), /success missing/);
  });
});
