/**
 * Normalizes what BullMQ users pass as `connection` (ioredis-style options, a
 * redis:// URL, or an ioredis instance) into the native connection options.
 * We always open our own connections; an ioredis instance is only read.
 */
import type { BindingConnectionOptions } from '../index';

/** PEM text as ioredis / Node's `tls.connect` accept it. */
type Pem = string | Buffer | Array<string | Buffer>;

/** TLS options; `{}` or `true` enables TLS with the system's trusted roots. */
export interface TlsOptions {
  /** false accepts any server certificate (self-signed, wrong host). */
  rejectUnauthorized?: boolean;
  /** Certificates to trust instead of the system roots. */
  ca?: Pem;
  /** Client certificate and key, for servers that require them. */
  cert?: Pem;
  key?: Pem;
  [key: string]: unknown;
}

/** ioredis-style connection options, as BullMQ accepts them. */
export interface RedisConnectionOptions {
  host?: string;
  port?: number | string;
  username?: string | null;
  password?: string | null;
  db?: number | string;
  /** TLS options; any object (or `true`) enables TLS. */
  tls?: boolean | TlsOptions;
  /** Milliseconds to wait for a connection (default 10000). */
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

function isClient(value: object): value is RedisClientLike {
  const v = value as { options?: unknown; duplicate?: unknown; status?: unknown };
  return (
    typeof v.options === 'object' &&
    v.options !== null &&
    (typeof v.duplicate === 'function' || typeof v.status === 'string')
  );
}

function pemText(value: Pem | undefined, name: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  const parts = Array.isArray(value) ? value : [value];
  return parts
    .map((p) => {
      if (typeof p === 'string') return p;
      if (Buffer.isBuffer(p)) return p.toString('utf8');
      throw new TypeError(`connection.tls.${name} must be PEM text or a Buffer`);
    })
    .join('\n');
}

function checkedPort(value: unknown): number {
  const port = value === undefined || value === null || value === '' ? 6379 : Number(value);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new TypeError(`connection.port must be an integer between 1 and 65535, got ${String(value)}`);
  }
  return port;
}

function checkedDb(value: unknown): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const db = Number(value);
  if (!Number.isInteger(db) || db < 0) {
    throw new TypeError(`connection.db must be a non-negative integer, got ${String(value)}`);
  }
  return db;
}

/** Converts BullMQ's `connection` option into what the native layer takes. */
export function normalizeConnection(connection: ConnectionOptions | undefined): BindingConnectionOptions {
  if (connection === undefined || connection === null) {
    return { host: '127.0.0.1', port: 6379 };
  }
  if (typeof connection === 'string') {
    if (!/^rediss?:\/\//i.test(connection)) {
      throw new TypeError(`connection must be a redis:// or rediss:// URL, got "${connection}"`);
    }
    let host = '';
    try {
      host = new URL(connection).hostname;
    } catch {
      // reported below
    }
    if (!host) {
      throw new TypeError(`connection is not a valid Redis URL: "${connection}"`);
    }
    return { url: connection };
  }
  if (typeof connection !== 'object') {
    throw new TypeError('connection must be an object, a redis:// URL or an ioredis instance');
  }
  if ((connection as { isCluster?: unknown }).isCluster === true || Array.isArray((connection as { startupNodes?: unknown }).startupNodes)) {
    throw new TypeError('Redis Cluster instances are not supported yet');
  }
  let opts: RedisConnectionOptions = connection as RedisConnectionOptions;
  if (isClient(connection)) {
    opts = connection.options;
    if (opts.keyPrefix) {
      // BullMQ's own message: keys must be built from `prefix` alone.
      throw new Error('BullMQ: ioredis does not support ioredis prefixes, use the prefix option instead.');
    }
  }
  if (Array.isArray(opts.sentinels) && opts.sentinels.length > 0) {
    throw new TypeError('Redis Sentinel connections are not supported yet');
  }
  if (opts.path !== undefined && opts.path !== null) {
    throw new TypeError('connection.path (Unix sockets) is not supported; use host and port');
  }
  const tls = opts.tls;
  const useTls = tls !== undefined && tls !== null && tls !== false;
  let host = opts.host === undefined || opts.host === null || opts.host === '' ? '127.0.0.1' : String(opts.host);
  // "localhost" may resolve to ::1 first while Redis listens on 127.0.0.1 only;
  // with TLS the name is kept, as the certificate is checked against it.
  if (host === 'localhost' && !useTls) host = '127.0.0.1';
  const out: BindingConnectionOptions = { host, port: checkedPort(opts.port) };
  if (opts.username) out.username = String(opts.username);
  if (opts.password) out.password = String(opts.password);
  const db = checkedDb(opts.db);
  if (db !== undefined) out.db = db;
  if (opts.connectTimeout !== undefined && opts.connectTimeout !== null) {
    const t = Number(opts.connectTimeout);
    if (!Number.isFinite(t) || t <= 0) {
      throw new TypeError(`connection.connectTimeout must be a positive number, got ${String(opts.connectTimeout)}`);
    }
    out.connectTimeout = Math.ceil(t);
  }
  if (useTls) {
    out.tls = true;
    if (typeof tls === 'object') {
      if (tls.rejectUnauthorized === false) out.tlsInsecure = true;
      out.tlsCa = pemText(tls.ca, 'ca');
      out.tlsCert = pemText(tls.cert, 'cert');
      out.tlsKey = pemText(tls.key, 'key');
      if ((out.tlsCert === undefined) !== (out.tlsKey === undefined)) {
        throw new TypeError('connection.tls.cert and connection.tls.key must be given together');
      }
    }
  }
  return out;
}
