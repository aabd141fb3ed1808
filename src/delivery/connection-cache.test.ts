import { test } from "node:test";
import assert from "node:assert/strict";
import { ConnectionCache } from "./connection-cache.ts";
import type { SmtpClient } from "./smtp-client.ts";

/** Stands in for a connection: counts QUITs and closes. */
function connection(reusable = true) {
  const calls = { quit: 0, close: 0 };
  const client = { reusable, quit: async () => void calls.quit++, close: () => void calls.close++ } as unknown as SmtpClient;
  return { client, calls };
}

test("an idle connection is taken again for the same server, not for another", () => {
  const cache = new ConnectionCache(60_000);
  const { client } = connection();
  cache.put("192.0.2.1|25", client);
  assert.equal(cache.take("192.0.2.2|25"), undefined);
  assert.equal(cache.take("192.0.2.1|25"), client);
  assert.equal(cache.take("192.0.2.1|25"), undefined, "taken out while it carries a transaction");
});

test("a connection that cannot carry another transaction is closed with QUIT at once", () => {
  const cache = new ConnectionCache(60_000);
  const { client, calls } = connection(false);
  cache.put("k", client);
  assert.equal(calls.quit, 1);
  assert.equal(cache.take("k"), undefined);
});

test("an idle connection is closed after connection_reuse; closeAll says goodbye to the rest", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const cache = new ConnectionCache(5000);
  const first = connection();
  const second = connection();
  cache.put("k", first.client);
  t.mock.timers.tick(4000);
  cache.put("j", second.client);
  t.mock.timers.tick(1000);
  assert.equal(first.calls.quit, 1, "idle for 5 s: closed");
  assert.equal(cache.take("k"), undefined);
  await cache.closeAll();
  assert.equal(second.calls.quit, 1);
  assert.equal(cache.take("j"), undefined);
});
