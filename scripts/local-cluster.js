#!/usr/bin/env node
// Runs a local 3-member etcd-ts cluster on loopback, like etcd's Procfile:
//   infra1 clients 127.0.0.1:2379  peers 127.0.0.1:2380
//   infra2 clients 127.0.0.1:22379 peers 127.0.0.1:22380
//   infra3 clients 127.0.0.1:32379 peers 127.0.0.1:32380
// Data in ./cluster.etcd/<name> (kept between runs). Ctrl-C stops all three.
// Usage: npm run cluster [-- --data-root DIR --log-level info]
const { spawn } = require('node:child_process');
const { join, resolve } = require('node:path');

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : def;
};
const root = resolve(opt('--data-root', 'cluster.etcd'));
const logLevel = opt('--log-level', 'warn');
const main = join(__dirname, '..', 'dist', 'src', 'server', 'main.js');
const members = [
  { name: 'infra1', client: 2379, peer: 2380 },
  { name: 'infra2', client: 22379, peer: 22380 },
  { name: 'infra3', client: 32379, peer: 32380 },
];
const initialCluster = members.map((m) => `${m.name}=http://127.0.0.1:${m.peer}`).join(',');

const children = members.map((m) => {
  const child = spawn(process.execPath, [
    main,
    '--name', m.name,
    '--data-dir', join(root, m.name),
    '--listen-client-urls', `http://127.0.0.1:${m.client}`,
    '--advertise-client-urls', `http://127.0.0.1:${m.client}`,
    '--listen-peer-urls', `http://127.0.0.1:${m.peer}`,
    '--initial-advertise-peer-urls', `http://127.0.0.1:${m.peer}`,
    '--initial-cluster', initialCluster,
    '--initial-cluster-token', 'etcd-ts-local-cluster',
    '--log-level', logLevel,
  ], { stdio: ['ignore', 'inherit', 'pipe'] });
  child.stderr.on('data', (d) => {
    for (const line of d.toString().split('\n')) if (line !== '') process.stderr.write(`${m.name} | ${line}\n`);
  });
  child.on('exit', (code, signal) => process.stderr.write(`${m.name} exited (${signal ?? code})\n`));
  return child;
});

process.stdout.write(`etcd-ts cluster: ETCDCTL_API=3 etcdctl --endpoints=${members.map((m) => `127.0.0.1:${m.client}`).join(',')} endpoint status -w table\n`);
const stop = () => {
  for (const c of children) c.kill('SIGTERM');
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
