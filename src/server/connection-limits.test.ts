import { test } from "node:test";
import assert from "node:assert/strict";
import { ConnectionLimits } from "./connection-limits.ts";

test("limits on open connections in all and per client, and on new connections per client per minute", () => {
  const limits = new ConnectionLimits({ maxConnections: 3, maxPerClient: 2, ratePerClient: 0, workers: 1 });
  assert.equal(limits.admit("192.0.2.1"), "admitted");
  assert.equal(limits.admit("192.0.2.1"), "admitted");
  assert.equal(limits.admit("192.0.2.1"), "client-full");
  assert.equal(limits.admit("192.0.2.2"), "admitted");
  assert.equal(limits.admit("192.0.2.3"), "server-full");
  limits.release("192.0.2.1");
  assert.equal(limits.admit("192.0.2.1"), "admitted", "a closed connection frees its place");

  const rate = new ConnectionLimits({ maxConnections: 100, maxPerClient: 100, ratePerClient: 2, workers: 1 });
  assert.equal(rate.admit("192.0.2.9", 0), "admitted");
  assert.equal(rate.admit("192.0.2.9", 1000), "admitted");
  assert.equal(rate.admit("192.0.2.9", 2000), "client-rate");
  assert.equal(rate.admit("192.0.2.9", 60_001), "admitted", "the window slides");
});

test("each worker enforces its share of a server-wide limit, rounded up", () => {
  const limits = new ConnectionLimits({ maxConnections: 3, maxPerClient: 100, ratePerClient: 0, workers: 2 });
  assert.equal(limits.admit("a"), "admitted");
  assert.equal(limits.admit("b"), "admitted");
  assert.equal(limits.admit("c"), "server-full");
});
