// A dump of every key of a queue, for field-by-field comparisons of what two
// clients wrote.

/**
 * Every key of a queue as plain values: hashes as objects (`opts` and
 * `parent` parsed, so key order does not matter), lists, sets (sorted),
 * zsets as [member, score] pairs, streams as field objects without ids.
 */
export async function dumpKeys(redis, prefix, name) {
  const base = `${prefix}:${name}:`;
  const out = {};
  for (const key of (await redis.keys(`${base}*`)).sort()) {
    const suffix = key.slice(base.length);
    const type = await redis.type(key);
    if (type === 'hash') {
      const h = await redis.hgetall(key);
      for (const f of ['opts', 'parent']) if (h[f] !== undefined) h[f] = JSON.parse(h[f]);
      out[suffix] = h;
    } else if (type === 'list') {
      out[suffix] = await redis.lrange(key, 0, -1);
    } else if (type === 'set') {
      out[suffix] = (await redis.smembers(key)).sort();
    } else if (type === 'zset') {
      const flat = await redis.zrange(key, 0, -1, 'WITHSCORES');
      out[suffix] = [];
      for (let i = 0; i < flat.length; i += 2) out[suffix].push([flat[i], flat[i + 1]]);
    } else if (type === 'stream') {
      out[suffix] = (await redis.xrange(key, '-', '+')).map(([, fields]) => {
        const o = {};
        for (let i = 0; i < fields.length; i += 2) o[fields[i]] = fields[i + 1];
        return o;
      });
    } else {
      out[suffix] = await redis.get(key);
    }
  }
  return out;
}
