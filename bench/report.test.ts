// Tests of the benchmark's arithmetic and tables: medians, ratios, targets, the rules comparison.

import assert from "node:assert/strict";
import { test } from "node:test";
import {
  median,
  meetsRelayTarget,
  meetsRulesTarget,
  meetsTarget,
  memoryTable,
  pairedRatios,
  relayTable,
  rulesRatio,
  rulesTable,
  throughputTable,
} from "./report.ts";

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

test("the rules table pairs the rounds, shows medians with their spread, and judges the ratio of the medians", () => {
  const row = {
    title: "(b) many msg/conn",
    noRules: [1000, 800, 1200],
    rules: [950, 700, 1000],
    noRulesCpu: [1000, 1100, 900],
    rulesCpu: [1100, 1200, 1000],
  };
  assert.deepEqual(
    pairedRatios(row.noRules, row.rules).map((ratio) => ratio.toFixed(3)),
    ["0.950", "0.875", "0.833"],
  );
  assert.equal(rulesRatio(row), 0.95);
  assert.equal(meetsRulesTarget(row), true);
  assert.equal(meetsRulesTarget({ ...row, rules: [900, 900, 900] }), false); // 0.90: a cost of 10% is not less than 10%
  assert.match(
    rulesTable([row]),
    /\| \(b\) many msg\/conn \| 1000 \(800-1200\) +\| 950 \(700-1000\) \| 0\.95 +\| 0\.88 \(0\.83-0\.95\) \| 1000 \(900-1100\) +\| 1100 \(1000-1200\) \| 100 +\| met +\|/,
  );
  assert.throws(() => pairedRatios([1, 2], [1]), /2 runs without rules but 1 with/);
});

test("the relay table judges the ratio of the medians against 1.5 and shows each round's ratio", () => {
  const row = {
    title: "relay (b) many msg/conn",
    petrel: [900, 600, 750],
    postfix: [500, 400, 600],
    petrelCpu: [2000, 2200, 2100],
    postfixCpu: [3000, 3100, 2900],
  };
  assert.equal(meetsRelayTarget(row), true); // 750 / 500 = 1.5 exactly: met
  assert.equal(meetsRelayTarget({ ...row, petrel: [700, 749, 600] }), false);
  assert.match(
    relayTable([row]),
    /\| relay \(b\) many msg\/conn \| 750 \(600-900\) \| 500 \(400-600\) \| 1\.50 +\| 1\.50 \(1\.25-1\.80\) \| 2100 \(2000-2200\) +\| 3000 \(2900-3100\) +\| met +\|/,
  );
});
