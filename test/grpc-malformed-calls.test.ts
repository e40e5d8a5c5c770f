// Malformed and edge-case calls get grpc-js's answers from both gRPC servers a member can run:
// ours (src/grpc, the default) and grpc-js with the fast unary path (src/api/fast-unary.ts,
// ETCD_TS_GRPC=grpc-js). On each, the same call is sent over a raw HTTP/2 client to KV/Put (the
// fast path under grpc-js) and to Lease/LeaseGrant (grpc-js's own under grpc-js), and the answers
// must match — HTTP status, content type, grpc-status and grpc-message (with the method path
// swapped), trailers-only or not; then our server's answers must equal grpc-js's. Plus a
// well-formed call and a refused one. (A client certificate's CN reaching the pipeline is
// covered by test/auth-tls-cn.test.ts, whose Puts take this path; deadlines race the handler on
// both paths, so they are not compared here.)
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import { startServer, type ServerProcess } from './helpers/server-process';

interface Answer {
  status: number | undefined;
  contentType: string | undefined;
  grpcStatus: string | undefined;
  grpcMessage: string | undefined;
  trailersOnly: boolean;
  bodyBytes: number;
}

function frame(message: Buffer): Buffer {
  const f = Buffer.alloc(5 + message.length);
  f.writeUInt32BE(message.length, 1);
  message.copy(f, 5);
  return f;
}

function send(session: http2.ClientHttp2Session, path: string, body: Buffer[], extra: http2.OutgoingHttpHeaders = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', ...extra });
    const a: Answer = { status: undefined, contentType: undefined, grpcStatus: undefined, grpcMessage: undefined, trailersOnly: false, bodyBytes: 0 };
    req.on('response', (h) => {
      a.status = h[':status'];
      a.contentType = h['content-type'];
      if (h['grpc-status'] !== undefined) {
        a.trailersOnly = true;
        a.grpcStatus = String(h['grpc-status']);
        a.grpcMessage = h['grpc-message'] === undefined ? undefined : String(h['grpc-message']);
      }
    });
    req.on('trailers', (t) => {
      a.grpcStatus = String(t['grpc-status']);
      a.grpcMessage = t['grpc-message'] === undefined ? undefined : String(t['grpc-message']);
    });
    req.on('data', (d: Buffer) => (a.bodyBytes += d.length));
    req.on('end', () => resolve(a));
    req.on('error', reject);
    for (const b of body) req.write(b);
    req.end();
  });
}

const MALFORMED: [string, () => Buffer[]][] = [
  ['no message', () => []],
  ['two messages', () => [frame(Buffer.alloc(0)), frame(Buffer.alloc(0))]],
  // Field 1 with a varint cut short: both request types fail to decode it.
  ['undecodable', () => [frame(Buffer.from([0x08, 0xff]))]],
  ['over the limit', () => [frame(Buffer.alloc(4 * 1024 * 1024))]],
];
/** Each implementation's answers to MALFORMED, for the comparison at the end. */
const answers = new Map<string, Answer[]>();

for (const impl of ['own', 'grpc-js'] as const) {
  describe(`${impl === 'own' ? 'our gRPC server' : 'grpc-js with the fast unary path'}: malformed calls get grpc-js's answers`, () => {
    let server: ServerProcess;
    let session: http2.ClientHttp2Session;
    before(async () => {
      server = await startServer({ args: ['--max-request-bytes', '1024'], env: { ETCD_TS_GRPC: impl } });
      session = http2.connect(`http://${server.endpoint}`);
      // The server is killed at the end: a reset then is not the test's concern.
      session.on('error', () => undefined);
    });
    after(async () => {
      if (session !== undefined) await new Promise<void>((r) => session.close(() => r()));
      await server?.cleanup();
    });

    const FAST = '/etcdserverpb.KV/Put';
    const GRPC_JS = '/etcdserverpb.Lease/LeaseGrant';
    const same = async (what: string, body: Buffer[]): Promise<Answer> => {
      const [fast, slow] = await Promise.all([send(session, FAST, body), send(session, GRPC_JS, body)]);
      const fastAnswer = { ...fast, grpcMessage: fast.grpcMessage?.replace(encodeURI(FAST), 'PATH') };
      assert.deepEqual(fastAnswer, { ...slow, grpcMessage: slow.grpcMessage?.replace(encodeURI(GRPC_JS), 'PATH') }, what);
      return fastAnswer;
    };

    test('no message, two messages, an undecodable message, a message over the limit', async () => {
      const got: Answer[] = [];
      for (const [what, body] of MALFORMED) got.push(await same(what, body()));
      answers.set(impl, got);
      const [none, two, garbage, big] = got;
      assert.equal(none.grpcStatus, '12');
      assert.equal(two.grpcStatus, '12');
      assert.deepEqual([garbage.grpcStatus, garbage.grpcMessage, garbage.trailersOnly], ['13', 'Error%20deserializing%20request', true]);
      assert.equal(big.grpcStatus, '8');
      assert.match(decodeURI(big.grpcMessage ?? ''), /^grpc: received message larger than max \(4194304 vs\. \d+\)$/);
    });

    test('a well-formed call, and one its handler refuses', async () => {
      const ok = await send(session, FAST, [frame(Buffer.from([0x0a, 0x01, 0x6b, 0x12, 0x01, 0x76]))]);
      assert.deepEqual([ok.status, ok.contentType, ok.grpcStatus, ok.grpcMessage, ok.trailersOnly], [200, 'application/grpc+proto', '0', 'OK', false]);
      assert.ok(ok.bodyBytes > 5);
      const refused = await send(session, FAST, [frame(Buffer.alloc(0))]);
      assert.deepEqual([refused.grpcStatus, decodeURI(refused.grpcMessage ?? ''), refused.trailersOnly], ['3', 'etcdserver: key is not provided', true]);
    });
  });
}

describe('our gRPC server and grpc-js', () => {
  test('answer the malformed calls alike', () => {
    const own = answers.get('own');
    const grpcJs = answers.get('grpc-js');
    assert.ok(own !== undefined && grpcJs !== undefined, 'both servers answered');
    MALFORMED.forEach(([what], i) => assert.deepEqual(own[i], grpcJs[i], what));
  });
});
