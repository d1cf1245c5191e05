// A tiny Redis client (RESP2 over one socket, one command at a time) for what
// the benchmark itself needs: INFO, FLUSHDB, SCAN/UNLINK. It keeps the
// measured child processes free of ioredis, so our client's CPU and memory are
// not inflated by a second Redis library.
import net from 'node:net';

export class Resp {
  /** Connects to a redis:// URL (host, port, optional password and db). */
  static async connect(url) {
    const u = new URL(url);
    const socket = net.connect(Number(u.port || 6379), u.hostname || '127.0.0.1');
    socket.setNoDelay(true);
    await new Promise((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const client = new Resp(socket);
    if (u.password) {
      const user = decodeURIComponent(u.username || '');
      const pass = decodeURIComponent(u.password);
      await (user ? client.command('AUTH', user, pass) : client.command('AUTH', pass));
    }
    const db = u.pathname.replace('/', '');
    if (db && db !== '0') await client.command('SELECT', db);
    return client;
  }

  constructor(socket) {
    this.socket = socket;
    this.buffer = Buffer.alloc(0);
    this.pending = [];
    socket.on('data', (chunk) => {
      this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
      this.drain();
    });
    socket.on('error', (err) => this.failAll(err));
    socket.on('close', () => this.failAll(new Error('connection closed')));
  }

  failAll(err) {
    for (const p of this.pending.splice(0)) p.reject(err);
  }

  drain() {
    while (this.pending.length) {
      const parsed = parse(this.buffer, 0);
      if (!parsed) return;
      this.buffer = this.buffer.subarray(parsed.end);
      const p = this.pending.shift();
      if (parsed.value instanceof Error) p.reject(parsed.value);
      else p.resolve(parsed.value);
    }
  }

  /** Sends one command; resolves with its reply (strings, numbers, arrays). */
  command(...args) {
    let out = `*${args.length}\r\n`;
    for (const a of args) {
      const s = String(a);
      out += `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
    }
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.socket.write(out);
    });
  }

  /** `INFO section` as a map of field → string value. */
  async info(section) {
    const text = await this.command('INFO', section);
    const out = {};
    for (const line of text.split('\r\n')) {
      const i = line.indexOf(':');
      if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1);
    }
    return out;
  }

  /** Seconds of CPU the server process used so far (user + sys, all threads). */
  async cpuSeconds() {
    const cpu = await this.info('cpu');
    return Number(cpu.used_cpu_user) + Number(cpu.used_cpu_sys);
  }

  /**
   * Per-command totals so far (INFO commandstats): name -> { calls, usec }.
   * Commands a script runs are counted too, under their own names, and their
   * time is part of the script's.
   */
  async commandStats() {
    const out = {};
    for (const [key, value] of Object.entries(await this.info('commandstats'))) {
      const calls = /calls=(\d+)/.exec(value);
      const usec = /usec=(\d+)/.exec(value);
      if (calls && usec) out[key.replace(/^cmdstat_/, '')] = { calls: Number(calls[1]), usec: Number(usec[1]) };
    }
    return out;
  }

  close() {
    this.socket.end();
  }
}

function lineEnd(buf, from) {
  const i = buf.indexOf('\r\n', from);
  return i < 0 ? -1 : i;
}

/** Parses one RESP2 reply at `pos`; undefined when the buffer holds less. */
function parse(buf, pos) {
  if (pos >= buf.length) return undefined;
  const type = String.fromCharCode(buf[pos]);
  const eol = lineEnd(buf, pos);
  if (eol < 0) return undefined;
  const line = buf.toString('utf8', pos + 1, eol);
  const next = eol + 2;
  switch (type) {
    case '+':
      return { value: line, end: next };
    case '-':
      return { value: new Error(line), end: next };
    case ':':
      return { value: Number(line), end: next };
    case '$': {
      const len = Number(line);
      if (len < 0) return { value: null, end: next };
      if (buf.length < next + len + 2) return undefined;
      return { value: buf.toString('utf8', next, next + len), end: next + len + 2 };
    }
    case '*': {
      const n = Number(line);
      if (n < 0) return { value: null, end: next };
      const items = [];
      let at = next;
      for (let i = 0; i < n; i++) {
        const item = parse(buf, at);
        if (!item) return undefined;
        items.push(item.value);
        at = item.end;
      }
      return { value: items, end: at };
    }
    default:
      return { value: new Error(`unexpected RESP type ${type}`), end: buf.length };
  }
}
