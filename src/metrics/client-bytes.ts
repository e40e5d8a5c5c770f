// Bytes read from and written to client connections, for etcd_network_client_grpc_received_bytes_total
// and etcd_network_client_grpc_sent_bytes_total. etcd counts gRPC message bytes; here each client
// connection's socket bytes are counted (TLS records, HTTP/2 framing and the HTTP/1.x endpoints
// included), which tracks the same traffic closely. Nothing is counted per read or write: a
// closed socket adds its totals once, open ones are summed when /metrics is scraped.
// Process-wide, as etcd's counters: members in one process (tests only) share them.
import type { Socket } from 'node:net';

const open = new Set<Socket>();
let closedRead = 0;
let closedWritten = 0;

/** Counts a client connection's bytes from now until it closes. */
export function trackClientSocket(socket: Socket): void {
  open.add(socket);
  socket.once('close', () => {
    open.delete(socket);
    closedRead += socket.bytesRead;
    closedWritten += socket.bytesWritten;
  });
}

export function clientBytes(): { received: number; sent: number } {
  let received = closedRead;
  let sent = closedWritten;
  for (const s of open) {
    received += s.bytesRead;
    sent += s.bytesWritten;
  }
  return { received, sent };
}
