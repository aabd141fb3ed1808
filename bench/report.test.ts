// Tests of the benchmark's arithmetic and tables: medians, ratios, targets.

import assert from "node:assert/strict";
import { test } from "node:test";
import { median, memoryTable, meetsTarget, throughputTable } from "./report.ts";

test("the median of an odd and of an even count of runs", () => {
  assert.equal(median([900, 100, 500]), 500);
  assert.equal(median([400, 100, 300, 200]), 250);
  assert.throws(() => median([]));
});

test("the throughput table shows medians, the Petrel/Postfix ratio and the median CPU per message", () => {
  const text = throughputTable([
    {
      title: "(a) 1 msg/conn",
      petrel: [300, 900, 600],
      postfix: [400, 200, 300],
      petrelCpu: [900, 700, 800],
      postfixCpu: [1000, 1200, 1100],
    },
  ]);
  assert.match(text, /\| \(a\) 1 msg\/conn \| 600 +\| 300 +\| 2\.00 +\| 800 +\| 1100 +\|/);
});

test("a figure at or above its target fails; a figure without a target is information", () => {
  const MiB = 2 ** 20;
  assert.equal(meetsTarget({ measure: "m", bytes: 32 * MiB, targetBytes: 32 * MiB }), false);
  assert.equal(meetsTarget({ measure: "m", bytes: 31 * MiB, targetBytes: 32 * MiB }), true);
  assert.equal(meetsTarget({ measure: "m", bytes: 900 * MiB }), true);
  assert.match(memoryTable([{ measure: "idle", bytes: 120 * MiB, targetBytes: 100 * MiB }]), /\| idle +\| 120\.0 \| < 100 +\| FAIL +\|/);
});
