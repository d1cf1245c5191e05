// Objects to close when the test file ends (queues, workers, events, clients
// of either package), closed in reverse order of creation.
import { after } from 'node:test';

const closers = [];
after(async () => {
  for (const c of closers.reverse()) await c.close();
});

/** Closes `obj` when the test file ends; returns it. */
export function track(obj) {
  closers.push(obj);
  return obj;
}
