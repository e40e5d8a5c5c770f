// Structured logs (pino) on stderr, with etcd's level names.
import pino, { type Logger } from 'pino';
import type { ServerConfig } from './config';

export function createLogger(level: ServerConfig['logLevel'], name: string): Logger {
  const pinoLevel = level === 'panic' ? 'fatal' : level;
  return pino({ level: pinoLevel, base: { name } }, pino.destination({ fd: 2, sync: false }));
}
