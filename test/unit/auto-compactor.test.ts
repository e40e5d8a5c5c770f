// The auto-compactor's rules (etcd 3.4 v3compactor) with short real timers and a fake member.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { AutoCompactor, parseRetention } from '../../src/etcdserver/compactor';
import { Errors } from '../../src/errors';

const log = pino({ level: 'silent' });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('auto-compaction retention', () => {
  test('as etcd parses it: bare numbers are hours or revisions, else a Go duration; 0 is off', () => {
    assert.deepEqual(parseRetention('periodic', '1'), { mode: 'periodic', periodMs: 3_600_000 });
    assert.deepEqual(parseRetention('periodic', '30m'), { mode: 'periodic', periodMs: 1_800_000 });
    assert.deepEqual(parseRetention('periodic', '2s'), { mode: 'periodic', periodMs: 2000 });
    assert.equal(parseRetention('periodic', '0'), undefined);
    assert.equal(parseRetention('periodic', '0s'), undefined);
    assert.deepEqual(parseRetention('revision', '1000'), { mode: 'revision', revisions: 1000 });
    assert.equal(parseRetention('revision', '0'), undefined);
    // etcd turns a duration into revisions by its nanoseconds.
    assert.deepEqual(parseRetention('revision', '1us'), { mode: 'revision', revisions: 1000 });
  });
});

describe('auto-compactor', () => {
  test('periodic: waits one period, compacts the revision of one period ago, then once a period; followers do not', async () => {
    let rev = 1;
    let leader = false;
    const compacted: { rev: number; head: number }[] = [];
    const c = new AutoCompactor({
      retention: { mode: 'periodic', periodMs: 500 },
      revisionIntervalMs: 1000,
      revision: () => rev,
      compact: async (r) => void compacted.push({ rev: r, head: rev }),
      isLeader: () => leader,
      log,
    });
    const ticker = setInterval(() => rev++, 10);
    c.start();
    try {
      await sleep(800);
      assert.equal(compacted.length, 0, 'a follower does not compact');
      leader = true;
      await sleep(1300);
    } finally {
      c.stop();
      clearInterval(ticker);
    }
    assert.ok(compacted.length >= 2 && compacted.length <= 4, JSON.stringify(compacted));
    for (const x of compacted) {
      // The revision noted about one period (50 revisions at one per 10 ms) before.
      const age = x.head - x.rev;
      assert.ok(age >= 30 && age <= 90, `compacted ${age} revisions behind the head`);
    }
  });

  test('revision: head minus N every interval, skipping the same revision; compacted already counts as done', async () => {
    let rev = 100;
    const calls: number[] = [];
    const c = new AutoCompactor({
      retention: { mode: 'revision', revisions: 30 },
      revisionIntervalMs: 40,
      revision: () => rev,
      compact: async (r) => {
        calls.push(r);
        if (r === 80) throw Errors.compacted();
      },
      isLeader: () => true,
      log,
    });
    c.start();
    try {
      await sleep(150);
      assert.deepEqual(calls, [70], 'once for an unchanged head');
      rev = 110;
      await sleep(150);
      assert.deepEqual(calls, [70, 80], 'ErrCompacted is success: not retried');
      rev = 20; // head - N <= 0: nothing
      await sleep(150);
      assert.deepEqual(calls, [70, 80]);
    } finally {
      c.stop();
    }
  });
});
