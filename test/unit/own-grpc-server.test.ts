// Our gRPC server (src/grpc, over src/h2) against real clients on real sockets: grpc-js's client
// for gRPC behaviour (unary, errors, deadlines, size limit, streams both ways, cancellation,
// flow control of large responses, metadata) and node:http2's client for HTTP/2 behaviour (many
// concurrent streams, PING, a non-gRPC request, a bad preface).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import * as http2 from 'node:http2';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { GrpcServer } from '../../src/grpc/server';
import type { ServerCall } from '../../src/grpc/call';
import { serviceDefinition } from '../../src/pb/load';

const MAX_RECEIVE = 64 * 1024;

type Callback = (err: unknown, value?: unknown) => void;
type AnyClient = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

describe('own gRPC server', { timeout: 60_000 }, () => {
  let server: Server;
  let port = 0;
  const sockets = new Set<Socket>();
  const grpcServer = new GrpcServer({ maxReceiveBytes: MAX_RECEIVE, maxConcurrentStreams: 100 });
  let cancelledSeen = 0;
  let lastToken: unknown;

  grpcServer.addService(serviceDefinition('etcdserverpb.KV'), {
    Range: (call: ServerCall, callback: Callback) => {
      const req = call.request as { key: Buffer; limit: string };
      lastToken = call.metadata.get('token')[0];
      const key = req.key.toString();
      if (key === 'fail') return callback({ code: grpc.status.FAILED_PRECONDITION, details: 'etcdserver: nope' });
      if (key === 'slow') {
        call.on('cancelled', () => cancelledSeen++);
        return; // never answers: the client's deadline ends it
      }
      if (key === 'throw') throw new Error('handler blew up');
      // A response as large as asked (limit = value bytes), to exercise flow control.
      const size = Number(req.limit);
      callback(null, { header: { revision: 1 }, kvs: [{ key: req.key, value: Buffer.alloc(size, 'v'), create_revision: 1, mod_revision: 1, version: 1 }], count: 1, more: false });
    },
  });
  grpcServer.addService(serviceDefinition('etcdserverpb.Watch'), {
    // Echo: each WatchRequest's create key comes back as an event; the client's end ends it.
    Watch: (call: ServerCall) => {
      // A stream that was asked to "stay" outlives the client's half-close (as a watch does).
      let stay = false;
      call.on('data', (req: { create_request?: { key: Buffer } }) => {
        const key = req.create_request?.key ?? Buffer.alloc(0);
        if (key.toString() === 'stay') stay = true;
        call.write({ header: { revision: 2 }, watch_id: 1, created: true, events: [{ type: 0, kv: { key, value: key, create_revision: 1, mod_revision: 1, version: 1 } }] });
      });
      call.on('end', () => {
        if (!stay) call.end();
      });
      call.on('cancelled', () => cancelledSeen++);
    },
  });
  grpcServer.addService(serviceDefinition('etcdserverpb.Maintenance'), {
    // Server streaming with backpressure, as the snapshot is sent: 40 blobs of 256 KiB.
    Snapshot: (call: ServerCall) => {
      let sent = 0;
      const pump = (): void => {
        while (sent < 40) {
          sent++;
          if (!call.write({ remaining_bytes: String(40 - sent), blob: Buffer.alloc(256 * 1024, sent) })) {
            call.once('drain', pump);
            return;
          }
        }
        call.end();
      };
      pump();
    },
  });

  before(async () => {
    server = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      grpcServer.serve(socket);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const addr = server.address();
    port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  });
  after(() => {
    grpcServer.destroy();
    for (const s of sockets) s.destroy();
    server.close();
  });

  function client(service: string): AnyClient {
    const Ctor = grpc.makeGenericClientConstructor(serviceDefinition(service), service);
    return new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as AnyClient;
  }

  function unary(c: AnyClient, method: string, req: object, options: { meta?: grpc.Metadata; deadlineMs?: number } = {}): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const callOptions = options.deadlineMs === undefined ? {} : { deadline: Date.now() + options.deadlineMs };
      c[method](req, options.meta ?? new grpc.Metadata(), callOptions, (err: grpc.ServiceError | null, res: Record<string, unknown>) => (err === null ? resolve(res) : reject(err)));
    });
  }

  test('unary calls: answers, many at once, metadata, response sizes past the flow-control windows', async () => {
    const kv = client('etcdserverpb.KV');
    try {
      const meta = new grpc.Metadata();
      meta.set('token', 'abc.def');
      const res = await unary(kv, 'Range', { key: Buffer.from('a'), limit: 3 }, { meta });
      assert.equal((res.kvs as { value: Buffer }[])[0].value.toString(), 'vvv');
      assert.equal(lastToken, 'abc.def');
      const many = await Promise.all(Array.from({ length: 300 }, (_, i) => unary(kv, 'Range', { key: Buffer.from(`k${i}`), limit: i })));
      many.forEach((r, i) => assert.equal((r.kvs as { value: Buffer }[])[0].value.length, i));
      // 3 MiB: past the default 64 KiB stream and connection windows, in 16 KiB frames.
      const big = await unary(kv, 'Range', { key: Buffer.from('big'), limit: 3 * 1024 * 1024 });
      assert.equal((big.kvs as { value: Buffer }[])[0].value.length, 3 * 1024 * 1024);
    } finally {
      kv.close();
    }
  });

  test('errors: status and details, a handler that throws, an unknown method, the size limit with grpc-go text, a deadline', async () => {
    const kv = client('etcdserverpb.KV');
    try {
      await assert.rejects(unary(kv, 'Range', { key: Buffer.from('fail') }), { code: grpc.status.FAILED_PRECONDITION, details: 'etcdserver: nope' });
      await assert.rejects(unary(kv, 'Range', { key: Buffer.from('throw') }), { code: grpc.status.UNKNOWN, details: 'handler blew up' });
      await assert.rejects(unary(kv, 'Put', { key: Buffer.from('x') }), { code: grpc.status.UNIMPLEMENTED, details: 'The server does not implement the method /etcdserverpb.KV/Put' });
      await assert.rejects(unary(kv, 'Range', { key: Buffer.alloc(MAX_RECEIVE + 10) }), (err: grpc.ServiceError) => {
        assert.equal(err.code, grpc.status.RESOURCE_EXHAUSTED);
        assert.match(err.details, /^grpc: received message larger than max \(\d+ vs\. 65536\)$/);
        return true;
      });
      const before = cancelledSeen;
      await assert.rejects(unary(kv, 'Range', { key: Buffer.from('slow') }, { deadlineMs: 200 }), { code: grpc.status.DEADLINE_EXCEEDED });
      // The server's own deadline (from grpc-timeout) or the client's reset cancels the call.
      for (let i = 0; i < 50 && cancelledSeen === before; i++) await new Promise((r) => setTimeout(r, 20));
      assert.ok(cancelledSeen > before, 'the handler heard of the cancellation');
      // The connection still serves after all of that.
      await unary(kv, 'Range', { key: Buffer.from('ok'), limit: 1 });
    } finally {
      kv.close();
    }
  });

  test('a bidirectional stream: messages both ways in order, half-close ends it, a cancel reaches the handler', async () => {
    const w = client('etcdserverpb.Watch');
    try {
      const call = w.Watch() as grpc.ClientDuplexStream<object, { events: { kv: { key: Buffer } }[] }>;
      const got: string[] = [];
      const ended = new Promise<void>((resolve, reject) => {
        call.on('data', (r) => got.push(r.events[0].kv.key.toString()));
        call.on('end', resolve);
        call.on('error', reject);
      });
      for (let i = 0; i < 100; i++) call.write({ create_request: { key: Buffer.from(`key${i}`) } });
      call.end();
      await ended;
      assert.deepEqual(got, Array.from({ length: 100 }, (_, i) => `key${i}`));

      const before = cancelledSeen;
      const second = w.Watch() as grpc.ClientDuplexStream<object, unknown>;
      second.on('error', () => undefined);
      await new Promise<void>((resolve) => {
        second.once('data', () => resolve());
        second.write({ create_request: { key: Buffer.from('stay') } });
      });
      second.cancel();
      for (let i = 0; i < 50 && cancelledSeen === before; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(cancelledSeen, before + 1);
    } finally {
      w.close();
    }
  });

  test('a server stream of 10 MiB arrives whole and in order, sent as the client reads', async () => {
    const m = client('etcdserverpb.Maintenance');
    try {
      const call = m.Snapshot({}) as grpc.ClientReadableStream<{ blob: Buffer; remaining_bytes: string }>;
      const blobs: number[] = [];
      let bytes = 0;
      await new Promise<void>((resolve, reject) => {
        call.on('data', (r) => {
          blobs.push(r.blob[0]);
          bytes += r.blob.length;
        });
        call.on('end', resolve);
        call.on('error', reject);
      });
      assert.equal(bytes, 40 * 256 * 1024);
      assert.deepEqual(blobs, Array.from({ length: 40 }, (_, i) => i + 1));
    } finally {
      m.close();
    }
  });

  test('HTTP/2: concurrent streams on one session, PING, a non-gRPC request gets 415', async () => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    try {
      await new Promise<void>((resolve) => session.once('connect', () => resolve()));
      await new Promise<void>((resolve, reject) => session.ping((err) => (err === null ? resolve() : reject(err))));
      const req = session.request({ ':method': 'GET', ':path': '/' });
      const status = await new Promise<number>((resolve) => req.on('response', (h) => resolve(Number(h[':status']))));
      assert.equal(status, 415);
      req.close();
    } finally {
      session.close();
    }
  });

  test('a connection that does not start with the HTTP/2 preface gets GOAWAY PROTOCOL_ERROR and is closed', async () => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise<void>((resolve) => socket.on('close', () => resolve()));
    const all = Buffer.concat(chunks);
    // SETTINGS first, then GOAWAY (type 7) with PROTOCOL_ERROR (1).
    let pos = 0;
    let goaway: Buffer | undefined;
    while (pos + 9 <= all.length) {
      const len = all.readUIntBE(pos, 3);
      if (all[pos + 3] === 7) goaway = all.subarray(pos + 9, pos + 9 + len);
      pos += 9 + len;
    }
    assert.ok(goaway !== undefined, 'a GOAWAY frame was sent');
    assert.equal(goaway.readUInt32BE(4), 1);
  });

  test('random frames after the preface never break the server: each connection ends with GOAWAY or goes on, and new ones are served', async () => {
    let seed = 12345;
    const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2147483648), seed % n);
    for (let round = 0; round < 60; round++) {
      const socket = connect(port, '127.0.0.1');
      socket.on('error', () => undefined);
      const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
      const parts: Buffer[] = [Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1')];
      for (let f = 0; f < 1 + rand(8); f++) {
        const payload = Buffer.alloc(rand(3) === 0 ? rand(40) : rand(300));
        for (let i = 0; i < payload.length; i++) payload[i] = rand(256);
        const header = Buffer.alloc(9);
        // Lengths sometimes lie (longer or shorter than the payload that follows).
        header.writeUIntBE(rand(5) === 0 ? rand(20000) : payload.length, 0, 3);
        header[3] = rand(12);
        header[4] = rand(256);
        header.writeUInt32BE(rand(4) === 0 ? 0 : rand(9), 5);
        parts.push(header, payload);
      }
      socket.end(Buffer.concat(parts));
      await Promise.race([closed, new Promise((r) => setTimeout(r, 300))]);
      socket.destroy();
    }
    // The server still serves.
    const kv = client('etcdserverpb.KV');
    try {
      const res = await unary(kv, 'Range', { key: Buffer.from('after'), limit: 2 });
      assert.equal((res.kvs as { value: Buffer }[])[0].value.toString(), 'vv');
    } finally {
      kv.close();
    }
  });

  test('unfinished request messages a connection holds across its streams are bounded: past the bound a stream is ended with RESOURCE_EXHAUSTED', async () => {
    const small = new GrpcServer({ maxReceiveBytes: MAX_RECEIVE, maxConcurrentStreams: 100, maxPendingBytesPerConnection: 100 * 1024 });
    small.addService(serviceDefinition('etcdserverpb.KV'), { Range: (_call: ServerCall, callback: Callback) => callback(null, { header: {}, kvs: [], count: 0, more: false }) });
    const srv = createServer((socket) => small.serve(socket));
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    const addr = srv.address();
    const session = http2.connect(`http://127.0.0.1:${typeof addr === 'object' && addr !== null ? addr.port : 0}`);
    try {
      // Each stream declares a 60 KiB message and sends 40 KiB of it: two fit under 100 KiB, the third does not.
      const statuses: string[] = [];
      const streams = [0, 1, 2].map(() => {
        const req = session.request({ ':method': 'POST', ':path': '/etcdserverpb.KV/Range', 'content-type': 'application/grpc', te: 'trailers' });
        const head = Buffer.alloc(5);
        head.writeUInt32BE(60 * 1024, 1);
        req.write(Buffer.concat([head, Buffer.alloc(40 * 1024)]));
        return req;
      });
      const third = streams[2];
      await new Promise<void>((resolve) => {
        third.on('response', (h) => {
          statuses.push(String(h['grpc-status']), String(h['grpc-message']));
          resolve();
        });
      });
      assert.equal(statuses[0], String(grpc.status.RESOURCE_EXHAUSTED));
      assert.match(decodeURI(statuses[1]), /unfinished requests/);
      for (const r of streams) r.close();
    } finally {
      session.close();
      small.destroy();
      srv.close();
    }
  });

  test('keepalive: a quiet connection is pinged; one that answers stays, one that does not is closed after the timeout', async () => {
    const ka = new GrpcServer({ maxReceiveBytes: MAX_RECEIVE, maxConcurrentStreams: 100, keepaliveIntervalMs: 150, keepaliveTimeoutMs: 300 });
    ka.addService(serviceDefinition('etcdserverpb.KV'), { Range: (_call: ServerCall, callback: Callback) => callback(null, { header: {}, kvs: [], count: 0, more: false }) });
    let closedByServer = 0;
    const srv = createServer((socket) => {
      socket.on('close', () => closedByServer++);
      ka.serve(socket);
    });
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    const addr = srv.address();
    const kaPort = typeof addr === 'object' && addr !== null ? addr.port : 0;
    try {
      // grpc-js answers pings: its connection outlives many intervals and keeps serving.
      const Ctor = grpc.makeGenericClientConstructor(serviceDefinition('etcdserverpb.KV'), 'KV');
      const kv = new Ctor(`127.0.0.1:${kaPort}`, grpc.credentials.createInsecure()) as unknown as AnyClient;
      await unary(kv, 'Range', { key: Buffer.from('a') });
      await new Promise((r) => setTimeout(r, 1200));
      await unary(kv, 'Range', { key: Buffer.from('b') });
      assert.equal(closedByServer, 0, 'the answering connection was kept');
      kv.close();
      await new Promise((r) => setTimeout(r, 100));
      const before = closedByServer;

      // A client that acknowledges SETTINGS but never answers a PING.
      const socket = connect(kaPort, '127.0.0.1');
      socket.on('error', () => undefined);
      const types: number[] = [];
      socket.on('data', (c: Buffer) => {
        for (let pos = 0; pos + 9 <= c.length; pos += 9 + c.readUIntBE(pos, 3)) types.push(c[pos + 3]);
      });
      const closed = new Promise<number>((resolve) => {
        const t0 = Date.now();
        socket.on('close', () => resolve(Date.now() - t0));
      });
      socket.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]), Buffer.from([0, 0, 0, 4, 1, 0, 0, 0, 0])]));
      const ms = await Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(-1), 5000))]);
      assert.ok(ms > 0, 'the silent connection was closed');
      assert.ok(types.includes(6), 'it was pinged first');
      assert.ok(types.includes(7), 'and told why with GOAWAY');
      for (let i = 0; i < 50 && closedByServer === before; i++) await new Promise((r) => setTimeout(r, 20));
      assert.ok(closedByServer > before, 'the server closed its side');
      socket.destroy();
    } finally {
      ka.destroy();
      srv.close();
    }
  });
});
