import { test } from "node:test";
import assert from "node:assert/strict";
import { delayWarningDue, expired, retryDelay } from "./retry-policy.ts";

const settings = { retryMin: 300_000, retryMax: 3_600_000, maxLifetime: 5 * 86_400_000, delayWarning: 4 * 3_600_000 };

test("the wait doubles from retry_min up to retry_max", () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6, 40].map((runs) => retryDelay(settings, runs, 0.5)), [300_000, 600_000, 1_200_000, 2_400_000, 3_600_000, 3_600_000, 3_600_000]);
});

test("jitter spreads the wait by at most 20 % either way", () => {
  assert.equal(retryDelay(settings, 1, 0), 240_000);
  assert.equal(retryDelay(settings, 1, 0.999_999), 360_000);
  const waits = new Set(Array.from({ length: 20 }, () => retryDelay(settings, 2)));
  assert.ok(waits.size > 1, "random jitter by default");
  for (const wait of waits) assert.ok(wait >= 480_000 && wait <= 720_000, String(wait));
});

test("expiry and delay warnings count from arrival; delay_warning 0 means never", () => {
  const arrival = Date.parse("2026-11-01T00:00:00Z");
  assert.equal(expired(settings, arrival, arrival + settings.maxLifetime - 1), false);
  assert.equal(expired(settings, arrival, arrival + settings.maxLifetime), true);
  assert.equal(delayWarningDue(settings, arrival, arrival + 3_600_000), false);
  assert.equal(delayWarningDue(settings, arrival, arrival + 4 * 3_600_000), true);
  assert.equal(delayWarningDue({ ...settings, delayWarning: 0 }, arrival, arrival + 86_400_000), false);
});
