// Calls to a member's HTTP/JSON gateway (/v3/...), the dashboard's only way to the store. Every
// call carries the session's token; an answer that says the token is gone ends the session, so
// the login form shows again. Errors keep the server's own message (etcd's error strings), which
// the views show as they are.
import { session, setSession } from './session.js';

/** An error the gateway answered with (grpc-gateway's {error, code, message}), or a failed request. */
export class GatewayError extends Error {
  constructor(
    message: string,
    /** The gRPC code (0 when the request itself failed: network, CORS, timeout). */
    readonly code: number,
    readonly httpStatus: number,
  ) {
    super(message);
  }
}

/** gRPC codes the views look at. */
export const Code = { INVALID_ARGUMENT: 3, NOT_FOUND: 5, PERMISSION_DENIED: 7, FAILED_PRECONDITION: 9, OUT_OF_RANGE: 11, UNAVAILABLE: 14, UNAUTHENTICATED: 16 } as const;

/** The messages that mean "no valid token": log in (again). */
const TOKEN_GONE = ['etcdserver: invalid auth token', 'etcdserver: user name is empty', 'etcdserver: user name not found'];

export interface CallOptions {
  /** Another member's client URL (e.g. http://10.0.0.2:2379); default: the member serving the page. */
  base?: string;
  signal?: AbortSignal;
  timeoutMs?: number;
}

export function headers(): Record<string, string> {
  const h: Record<string, string> = { 'Content-Type': 'application/json' };
  const s = session();
  if (s !== undefined) h.Authorization = s.token;
  return h;
}

/** POSTs `body` to /v3/<path> and returns the parsed reply. */
export async function call<T>(path: string, body: object, options: CallOptions = {}): Promise<T> {
  const timeout = AbortSignal.timeout(options.timeoutMs ?? 15_000);
  const signal = options.signal === undefined ? timeout : AbortSignal.any([options.signal, timeout]);
  let res: Response;
  try {
    res = await fetch(`${options.base ?? ''}/v3/${path}`, { method: 'POST', headers: headers(), body: JSON.stringify(body), signal });
  } catch (err) {
    throw new GatewayError(err instanceof Error ? err.message : String(err), 0, 0);
  }
  const textBody = await res.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(textBody);
  } catch {
    throw new GatewayError(textBody.trim() || res.statusText, 0, res.status);
  }
  if (!res.ok) throw errorOf(parsed, res.status);
  return parsed as T;
}

/** The error a gateway error body stands for; a lost token also ends the session. */
export function errorOf(body: unknown, httpStatus: number): GatewayError {
  const o = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
  const message = typeof o.message === 'string' ? o.message : typeof o.error === 'string' ? o.error : `HTTP ${httpStatus}`;
  // Unary errors carry `code`, a stream's last chunk `grpc_code`.
  const code = typeof o.code === 'number' ? o.code : typeof o.grpc_code === 'number' ? o.grpc_code : 0;
  if (session() !== undefined && TOKEN_GONE.includes(message)) setSession(undefined);
  return new GatewayError(message, code, httpStatus);
}

export const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));
