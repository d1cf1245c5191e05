// Checks that each call rejects with a TypeError carrying the given message
// (a string to match exactly, or a RegExp).
import assert from 'node:assert/strict';

export async function assertTypeErrors(cases) {
  for (const [call, message] of cases) {
    await assert.rejects(call(), (err) => {
      assert.equal(err.name, 'TypeError', `${err.message}`);
      if (message instanceof RegExp) assert.match(err.message, message);
      else assert.equal(err.message, message);
      return true;
    });
  }
}
