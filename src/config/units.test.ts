import assert from "node:assert/strict";
import { test } from "node:test";
import { formatDuration, formatSize, parseDuration, parseSize } from "./units.ts";

test("durations: units, plain milliseconds, fractions that land on whole milliseconds", () => {
  assert.equal(parseDuration("30s"), 30_000);
  assert.equal(parseDuration("5m"), 300_000);
  assert.equal(parseDuration("1h"), 3_600_000);
  assert.equal(parseDuration("2d"), 172_800_000);
  assert.equal(parseDuration("1w"), 604_800_000);
  assert.equal(parseDuration("250ms"), 250);
  assert.equal(parseDuration("1.5h"), 5_400_000);
  assert.equal(parseDuration("0.1s"), 100);
  assert.equal(parseDuration("30 s"), 30_000);
  assert.equal(parseDuration(1500), 1500);
  assert.equal(parseDuration("1500"), 1500);
  assert.equal(parseDuration(0), 0);
});

test("durations: refused forms", () => {
  for (const bad of ["", "s", "-5s", "5x", "5M", "1.5ms", "1h30m", "5 m s", 1.5, -1, true, null, [], {}]) {
    assert.equal(parseDuration(bad), undefined, `accepted ${JSON.stringify(bad)}`);
  }
});

test("sizes: SI units are 1000-based, IEC units and single letters 1024-based", () => {
  assert.equal(parseSize("50MB"), 50_000_000);
  assert.equal(parseSize("50mb"), 50_000_000);
  assert.equal(parseSize("1kB"), 1000);
  assert.equal(parseSize("1GB"), 1e9);
  assert.equal(parseSize("10MiB"), 10_485_760);
  assert.equal(parseSize("1KiB"), 1024);
  assert.equal(parseSize("512k"), 524_288);
  assert.equal(parseSize("512K"), 524_288);
  assert.equal(parseSize("2M"), 2_097_152);
  assert.equal(parseSize("1G"), 1_073_741_824);
  assert.equal(parseSize("1T"), 1024 ** 4);
  assert.equal(parseSize("100B"), 100);
  assert.equal(parseSize("1.5KiB"), 1536);
  assert.equal(parseSize(4096), 4096);
  for (const bad of ["50 parsecs", "MB", "1.5B", "-1MB", 2.5, "1e6", false]) {
    assert.equal(parseSize(bad), undefined, `accepted ${JSON.stringify(bad)}`);
  }
});

test("formatting gives exact spellings that parse back to the same number", () => {
  assert.equal(formatDuration(300_000), "5m");
  assert.equal(formatDuration(30_000), "30s");
  assert.equal(formatDuration(1500), "1500ms");
  assert.equal(formatDuration(0), "0s");
  assert.equal(formatDuration(172_800_000), "2d");
  assert.equal(formatSize(52_428_800), "50MiB");
  assert.equal(formatSize(50_000_000), "50MB");
  assert.equal(formatSize(1536), "1536B");
  assert.equal(formatSize(0), "0B");
  for (const ms of [1, 999, 1000, 61_000, 3_600_000, 90_061_001]) assert.equal(parseDuration(formatDuration(ms)), ms);
  for (const bytes of [1, 1000, 1024, 1536, 52_428_800, 50_000_000, 1024 ** 4]) {
    assert.equal(parseSize(formatSize(bytes)), bytes);
  }
});
