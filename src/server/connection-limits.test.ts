import { test } from "node:test";
import assert from "node:assert/strict";
import { ConnectionLimits } from "./connection-limits.ts";

test("limits on open connections in all and per client, and on new connections per client per minute", () => {
  const limits = new ConnectionLimits({ maxConnections: 3, maxPerClient: 2, ratePerClient: 0, messageRatePerClient: 0, workers: 1 });
  assert.equal(limits.admit("192.0.2.1"), "admitted");
  assert.equal(limits.admit("192.0.2.1"), "admitted");
  assert.equal(limits.admit("192.0.2.1"), "client-full");
  assert.equal(limits.admit("192.0.2.2"), "admitted");
  assert.equal(limits.admit("192.0.2.3"), "server-full");
  limits.release("192.0.2.1");
  assert.equal(limits.admit("192.0.2.1"), "admitted", "a closed connection frees its place");

  const rate = new ConnectionLimits({ maxConnections: 100, maxPerClient: 100, ratePerClient: 2, messageRatePerClient: 0, workers: 1 });
  assert.equal(rate.admit("192.0.2.9", 0), "admitted");
  assert.equal(rate.admit("192.0.2.9", 1000), "admitted");
  assert.equal(rate.admit("192.0.2.9", 2000), "client-rate");
  assert.equal(rate.admit("192.0.2.9", 60_001), "admitted", "the window slides");
});

test("each worker enforces its share of max_connections (rounded up), and the full per-client limits", () => {
  const limits = new ConnectionLimits({ maxConnections: 3, maxPerClient: 100, ratePerClient: 0, messageRatePerClient: 0, workers: 2 });
  assert.equal(limits.admit("a"), "admitted");
  assert.equal(limits.admit("b"), "admitted");
  assert.equal(limits.admit("c"), "server-full");
  const perClient = new ConnectionLimits({ maxConnections: 100, maxPerClient: 2, ratePerClient: 0, messageRatePerClient: 0, workers: 2 });
  assert.equal(perClient.admit("a"), "admitted");
  assert.equal(perClient.admit("a"), "admitted", "not halved: one client's connections spread unevenly");
  assert.equal(perClient.admit("a"), "client-full");
});

test("messages per client per minute: over the rate, refused until the window slides", () => {
  const limits = new ConnectionLimits({ maxConnections: 10, maxPerClient: 10, ratePerClient: 0, messageRatePerClient: 2, workers: 1 });
  assert.equal(limits.admitMessage("192.0.2.5", 0), true);
  assert.equal(limits.admitMessage("192.0.2.5", 10), true);
  assert.equal(limits.admitMessage("192.0.2.5", 20), false);
  assert.equal(limits.admitMessage("192.0.2.6", 20), true, "per address");
  assert.equal(limits.admitMessage("192.0.2.5", 60_001), true);
});
