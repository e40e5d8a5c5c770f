// WatcherGroup finds every watcher whose range holds a key, with watchers of one range bucketed
// together, through adds and deletes in any order.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { WatcherGroup } from '../../src/watch/watcher-group';
import { Watcher, type WatchSink, type WatchEnd } from '../../src/watch/watcher';

const sink: WatchSink = { blocked: () => false, deliver: () => undefined, compacted: () => undefined, progress: () => undefined, onSynced: () => undefined };
let ids = 0;
function watcher(key: string, end: WatchEnd): Watcher {
  return new Watcher(ids++, sink, { key: Buffer.from(key), end, noPut: false, noDelete: false, prevKv: false, fragment: false, progressNotify: false }, 1);
}
function found(g: WatcherGroup, key: string): number[] {
  const out: number[] = [];
  g.forKey(Buffer.from(key), (w) => out.push(w.id));
  return out.sort((a, b) => a - b);
}

describe('WatcherGroup', () => {
  test('single keys, ranges, open-ended ranges and same-looking ranges are told apart', () => {
    const g = new WatcherGroup();
    const single = watcher('abc', undefined);
    const range = watcher('ab', Buffer.from('c')); // [ab, c)
    const open = watcher('abc', Buffer.alloc(0)); // [abc, +inf)
    const sameA = watcher('a', Buffer.from('b'));
    const sameB = watcher('a', Buffer.from('b'));
    for (const w of [single, range, open, sameA, sameB]) g.add(w);
    assert.equal(g.size, 5);
    // [a, b) holds "abc" and "ab" too.
    assert.deepEqual(found(g, 'abc'), [single.id, range.id, open.id, sameA.id, sameB.id].sort((a, b) => a - b));
    assert.deepEqual(found(g, 'ab'), [range.id, sameA.id, sameB.id].sort((a, b) => a - b));
    assert.deepEqual(found(g, 'a1'), [sameA.id, sameB.id]);
    assert.deepEqual(found(g, 'b'), [range.id, open.id].sort((a, b) => a - b));
    assert.deepEqual(found(g, 'zzz'), [open.id]);
    assert.equal(g.watches(Buffer.from('c')), true);
    assert.equal(g.watches(Buffer.from('0')), false);
    assert.equal([...g.all()].length, 5);
  });

  test('deleting the watcher that stands for its range keeps the others of that range', () => {
    const g = new WatcherGroup();
    const ws = [watcher('p/', Buffer.from('p0')), watcher('p/', Buffer.from('p0')), watcher('p/', Buffer.from('p0'))];
    for (const w of ws) g.add(w);
    assert.equal(g.delete(ws[0]), true);
    assert.equal(g.delete(ws[0]), false);
    assert.deepEqual(found(g, 'p/x'), [ws[1].id, ws[2].id]);
    assert.equal(g.delete(ws[1]), true);
    assert.deepEqual(found(g, 'p/x'), [ws[2].id]);
    assert.equal(g.delete(ws[2]), true);
    assert.deepEqual(found(g, 'p/x'), []);
    assert.equal(g.size, 0);
    assert.equal(g.watches(Buffer.from('p/x')), false);
  });
});
