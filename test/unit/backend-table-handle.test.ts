// A table handle across an environment swap (Backend.releaseMappedPages): its methods stay the
// same functions, so code optimized around them is not thrown away, and they work on the table as
// opened again.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Backend } from '../../src/backend/backend';

const dir = mkdtempSync(join(tmpdir(), 'table-handle-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('a table handle keeps its method functions across a reopen, and they reach the reopened table', async () => {
  const b = new Backend({ dir, mapSizeBytes: 16 * 1024 * 1024 });
  try {
    const t = b.binaryTable('t');
    const { putSync, getBinaryFast, getRange } = t;
    b.transaction(() => {
      for (let i = 0; i < 100; i++) t.putSync(Buffer.from(`k${i}`), Buffer.from(`v${i}`));
    });
    b.checkpoint();
    assert.equal(await b.releaseMappedPages(0), true, 'the environment was closed and opened again');
    assert.equal(t.putSync, putSync);
    assert.equal(t.getBinaryFast, getBinaryFast);
    assert.equal(t.getRange, getRange);
    // Reads and writes (inside a transaction and one of its own) go to the reopened table.
    assert.equal(t.get(Buffer.from('k42'))?.toString(), 'v42');
    b.transaction(() => t.putSync(Buffer.from('k42'), Buffer.from('new')));
    t.putSync(Buffer.from('k100'), Buffer.from('v100'));
    assert.equal(t.get(Buffer.from('k42'))?.toString(), 'new');
    assert.equal([...t.getRange({})].length, 101);
  } finally {
    await b.close();
  }
});
