/**
 * Normalizes what BullMQ users pass as `connection` (ioredis-style options, a
 * redis:// URL, or an ioredis instance) into the native connection options.
 * We always open our own connections; an ioredis instance is only read.
 */
import type { BindingConnectionOptions } from '../index';

/** ioredis-style connection options, as BullMQ accepts them. */
export interface RedisConnectionOptions {
  host?: string;
  port?: number;
  username?: string;
  password?: string;
  db?: number;
  /** TLS options; any object (or `true`) enables TLS. */
  tls?: boolean | { rejectUnauthorized?: boolean; [key: string]: unknown };
  connectTimeout?: number;
  /** Accepted for compatibility with BullMQ; the engine manages retries itself. */
  maxRetriesPerRequest?: number | null;
  enableReadyCheck?: boolean;
  [key: string]: unknown;
}

/** Anything with ioredis' `options` property (an ioredis `Redis` instance). */
export interface RedisClientLike {
  options: RedisConnectionOptions;
  [key: string]: unknown;
}

export type ConnectionOptions = RedisConnectionOptions | RedisClientLike | string;

function isClient(value: unknown): value is RedisClientLike {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { options?: unknown }).options === 'object' &&
    (typeof (value as { duplicate?: unknown }).duplicate === 'function' ||
      typeof (value as { status?: unknown }).status === 'string')
  );
}

export function normalizeConnection(connection: ConnectionOptions | undefined): BindingConnectionOptions {
  if (connection === undefined || connection === null) {
    return { host: '127.0.0.1', port: 6379 };
  }
  if (typeof connection === 'string') {
    if (!/^rediss?:\/\//.test(connection)) {
      throw new TypeError(`connection must be a redis:// or rediss:// URL, got "${connection}"`);
    }
    return { url: connection };
  }
  if (typeof connection !== 'object') {
    throw new TypeError('connection must be an object, a redis:// URL or an ioredis instance');
  }
  if (typeof (connection as { nodes?: unknown }).nodes === 'function' && !isClient(connection)) {
    throw new TypeError('Redis Cluster instances are not supported yet');
  }
  const opts: RedisConnectionOptions = isClient(connection) ? connection.options : connection;
  const out: BindingConnectionOptions = {
    host: opts.host === 'localhost' || opts.host === undefined ? '127.0.0.1' : String(opts.host),
    port: opts.port === undefined ? 6379 : Number(opts.port),
  };
  if (!Number.isInteger(out.port) || out.port! <= 0 || out.port! > 65535) {
    throw new TypeError(`connection.port must be an integer between 1 and 65535, got ${opts.port}`);
  }
  if (opts.username) out.username = String(opts.username);
  if (opts.password) out.password = String(opts.password);
  if (opts.db !== undefined) out.db = Number(opts.db);
  if (opts.connectTimeout !== undefined) out.connectTimeout = Number(opts.connectTimeout);
  if (opts.tls) {
    out.tls = true;
    if (typeof opts.tls === 'object' && opts.tls.rejectUnauthorized === false) {
      out.tlsInsecure = true;
    }
  }
  return out;
}
