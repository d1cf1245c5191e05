/**
 * Normalizes what BullMQ users pass as `connection` (ioredis-style options, a
 * redis:// URL, an ioredis instance or Cluster, Sentinel options) into the
 * native connection options.
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
  /** Sentinels to ask for the master named `name` (ioredis' Sentinel mode). */
  sentinels?: NodeAddressLike[];
  /** The Sentinel group's name (default `mymaster`). */
  name?: string;
  sentinelUsername?: string | null;
  sentinelPassword?: string | null;
  [key: string]: unknown;
}

/** Anything with ioredis' `options` property (an ioredis `Redis` instance). */
export interface RedisClientLike {
  options: RedisConnectionOptions;
  [key: string]: unknown;
}

export type ConnectionOptions =
  | RedisConnectionOptions
  | RedisClientLike
  | RedisClusterLike
  | ClusterConnectionOptions
  | string;

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

/** A cluster node or a sentinel as ioredis takes it: `{ host, port }`, a port, `"host:port"` or a URL. */
export type NodeAddressLike = { host?: string; port?: number | string } | number | string;

/** Our plain Redis Cluster form: `{ cluster: { nodes, options } }`. */
export interface ClusterConnectionOptions {
  cluster: {
    /** Startup nodes; the others are discovered. */
    nodes: NodeAddressLike[];
    /** ioredis' cluster options; `redisOptions` (credentials, TLS, connectTimeout) apply to every node. */
    options?: { redisOptions?: RedisConnectionOptions; [key: string]: unknown };
  };
}

/** Anything with ioredis' `Cluster` shape (`isCluster`, `startupNodes`, `options`). */
export interface RedisClusterLike {
  isCluster: true;
  startupNodes: NodeAddressLike[];
  options: { redisOptions?: RedisConnectionOptions; [key: string]: unknown };
  [key: string]: unknown;
}

function nodeAddress(node: NodeAddressLike, what: string): { host: string; port: number } {
  let host: unknown = '127.0.0.1';
  let port: unknown = 6379;
  if (typeof node === 'number') {
    port = node;
  } else if (typeof node === 'string') {
    const text = /^[a-z]+:\/\//i.test(node) ? node : `redis://${/^\d+$/.test(node) ? `127.0.0.1:${node}` : node}`;
    let u: URL;
    try {
      u = new URL(text);
    } catch {
      throw new TypeError(`${what} must be { host, port }, a port or "host:port", got "${node}"`);
    }
    host = u.hostname || '127.0.0.1';
    port = u.port || 6379;
  } else if (node && typeof node === 'object') {
    if (node.host !== undefined && node.host !== null && node.host !== '') host = node.host;
    if (node.port !== undefined && node.port !== null && node.port !== '') port = node.port;
  } else {
    throw new TypeError(`${what} must be { host, port }, a port or "host:port"`);
  }
  const p = Number(port);
  if (!Number.isInteger(p) || p <= 0 || p > 65535) {
    throw new TypeError(`${what}.port must be an integer between 1 and 65535, got ${String(port)}`);
  }
  let h = String(host).replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost') h = '127.0.0.1';
  return { host: h, port: p };
}

function nodeList(nodes: unknown, what: string): Array<{ host: string; port: number }> {
  if (!Array.isArray(nodes) || nodes.length === 0) {
    throw new TypeError(`${what} must be a non-empty array of { host, port }`);
  }
  return nodes.map((n, i) => nodeAddress(n as NodeAddressLike, `${what}[${i}]`));
}

function isClusterClient(value: object): value is RedisClusterLike {
  const v = value as { isCluster?: unknown; startupNodes?: unknown };
  return v.isCluster === true || Array.isArray(v.startupNodes);
}

function refuseKeyPrefix(opts: { [key: string]: unknown } | undefined): void {
  if (opts?.keyPrefix) {
    // BullMQ's own message: keys must be built from `prefix` alone.
    throw new Error('BullMQ: ioredis does not support ioredis prefixes, use the prefix option instead.');
  }
}

/** A Redis Cluster connection: the startup nodes, and what every node needs. */
function clusterConnection(nodes: unknown, options: RedisClusterLike['options'] | undefined, what: string): BindingConnectionOptions {
  if (options !== undefined && options !== null && typeof options !== 'object') {
    throw new TypeError(`${what} options must be an object`);
  }
  refuseKeyPrefix(options);
  const redisOptions = (options?.redisOptions ?? {}) as RedisConnectionOptions;
  refuseKeyPrefix(redisOptions);
  const out = serverFields(redisOptions);
  if (out.db !== undefined && out.db !== 0) {
    throw new TypeError('connection.db must be 0 on a Redis Cluster (a cluster has one database)');
  }
  delete out.db;
  out.clusterNodes = nodeList(nodes, `${what} nodes`);
  return out;
}

/** Credentials, database, timeout and TLS: what every server of a connection takes. */
function serverFields(opts: RedisConnectionOptions): BindingConnectionOptions {
  const out: BindingConnectionOptions = {};
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
  const tls = opts.tls;
  if (tls !== undefined && tls !== null && tls !== false) {
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

/**
 * Converts BullMQ's `connection` option into what the native layer takes:
 * one server (options, URL or an ioredis instance), a Redis Cluster (an
 * ioredis `Cluster` or `{ cluster: { nodes, options } }`), or the master of
 * a Sentinel group (`{ sentinels, name }` or an ioredis instance for it).
 */
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
  if (isClusterClient(connection)) {
    return clusterConnection(connection.startupNodes, connection.options, 'the Redis Cluster instance\'s startup');
  }
  // (An ioredis instance has a `cluster` method: the CLUSTER command.)
  const ours = isClient(connection) ? undefined : (connection as Partial<ClusterConnectionOptions>).cluster;
  if (ours !== undefined && ours !== null) {
    if (typeof ours !== 'object') throw new TypeError('connection.cluster must be { nodes, options }');
    return clusterConnection(ours.nodes, ours.options, 'connection.cluster');
  }
  let opts: RedisConnectionOptions = connection as RedisConnectionOptions;
  if (isClient(connection)) {
    opts = connection.options;
    refuseKeyPrefix(opts);
  }
  if (opts.sentinels !== undefined && opts.sentinels !== null) {
    const out = serverFields(opts);
    out.sentinels = nodeList(opts.sentinels, 'connection.sentinels');
    out.sentinelName = opts.name === undefined || opts.name === null ? 'mymaster' : String(opts.name);
    if (opts.sentinelUsername) out.sentinelUsername = String(opts.sentinelUsername);
    if (opts.sentinelPassword) out.sentinelPassword = String(opts.sentinelPassword);
    if (opts.enableTLSForSentinelMode) {
      throw new TypeError('connection.enableTLSForSentinelMode is not supported: the sentinels are reached without TLS');
    }
    return out;
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
  return { host, port: checkedPort(opts.port), ...serverFields(opts) };
}
