// Turns the benchmark's measurements into the tables it prints: throughput medians with the
// Petrel/Postfix ratio, Petrel with rules against Petrel without (issue 4's target), relay throughput
// against Postfix (issue 5's target), and memory figures against their targets. The tables are Markdown, so a run's
// output can be pasted into docs/performance.md as it is. It formats only; it must never measure.

import type { Machine } from "./machine.ts";
import type { ThroughputPlan } from "./throughput.ts";

const MiB = 2 ** 20;

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error("the median of no values");
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]?.length ?? 0)));
  const line = (cells: readonly string[]) => `| ${cells.map((cell, column) => cell.padEnd(widths[column]!)).join(" | ")} |`;
  return [line(header), line(widths.map((width) => "-".repeat(width))), ...rows.map(line)].join("\n");
}

export function describeRun(machine: Machine, plan: ThroughputPlan): string {
  return [
    `Date: ${machine.date}`,
    `Machine: ${machine.cpus} CPUs (${machine.cpuModel}), ${machine.memoryGiB} GiB, Linux ${machine.kernel}, spools on ${machine.fileSystem}`,
    `Software: Node ${machine.node}, Postfix ${machine.postfix}`,
    `Loads: smtp-source -s ${plan.sessions} -l ${plan.bodyBytes} -m ${plan.messages}, ${plan.rounds} round(s), median reported`,
  ].join("\n");
}

/** Per load: msg/s and CPU microseconds per message of each run, per server. */
export type ThroughputRow = {
  title: string;
  petrel: readonly number[];
  postfix: readonly number[];
  petrelCpu: readonly number[];
  postfixCpu: readonly number[];
};

export function throughputTable(rows: readonly ThroughputRow[]): string {
  return table(
    ["Load", "Petrel msg/s", "Postfix msg/s", "Petrel / Postfix", "Petrel CPU us/msg", "Postfix CPU us/msg"],
    rows.map((row) => {
      const petrel = median(row.petrel);
      const postfix = median(row.postfix);
      return [
        row.title,
        petrel.toFixed(0),
        postfix.toFixed(0),
        (petrel / postfix).toFixed(2),
        median(row.petrelCpu).toFixed(0),
        median(row.postfixCpu).toFixed(0),
      ];
    }),
  );
}

/** Per load: msg/s and CPU microseconds per message of each round, Petrel without and with the rule set. */
export type RulesRow = {
  title: string;
  noRules: readonly number[];
  rules: readonly number[];
  noRulesCpu: readonly number[];
  rulesCpu: readonly number[];
};

/** Issue 4: the rule set may cost less than 10% of the throughput without rules. */
export const RULES_TARGET_RATIO = 0.9;

/** Rules / no rules of each round (the runs of one round ran back to back, under the same noise). */
export function pairedRatios(without: readonly number[], withRules: readonly number[]): number[] {
  if (without.length !== withRules.length) throw new Error(`${without.length} runs without rules but ${withRules.length} with`);
  return without.map((value, round) => withRules[round]! / value);
}

/** The throughput with rules over the one without: the ratio of the medians. */
export function rulesRatio(row: RulesRow): number {
  return median(row.rules) / median(row.noRules);
}

export function meetsRulesTarget(row: RulesRow): boolean {
  return rulesRatio(row) > RULES_TARGET_RATIO;
}

/** "median (min-max)", with `digits` decimals. */
function spread(values: readonly number[], digits = 0): string {
  return `${median(values).toFixed(digits)} (${Math.min(...values).toFixed(digits)}-${Math.max(...values).toFixed(digits)})`;
}

export function rulesTable(rows: readonly RulesRow[]): string {
  return table(
    [
      "Load",
      "No rules msg/s",
      "Rules msg/s",
      "Rules / no rules",
      "Per-round ratio",
      "No rules CPU us/msg",
      "Rules CPU us/msg",
      "CPU added us/msg",
      `Target > ${RULES_TARGET_RATIO.toFixed(2)}`,
    ],
    rows.map((row) => [
      row.title,
      spread(row.noRules),
      spread(row.rules),
      rulesRatio(row).toFixed(2),
      spread(pairedRatios(row.noRules, row.rules), 2),
      spread(row.noRulesCpu),
      spread(row.rulesCpu),
      (median(row.rulesCpu) - median(row.noRulesCpu)).toFixed(0),
      meetsRulesTarget(row) ? "met" : "NOT MET",
    ]),
  );
}

/** Issue 5: Petrel relays at least 1.5 times as many messages per second as Postfix. */
export const RELAY_TARGET_RATIO = 1.5;

/** The relay throughput of Petrel over Postfix's: the ratio of the medians. */
export function relayRatio(row: ThroughputRow): number {
  return median(row.petrel) / median(row.postfix);
}

export function meetsRelayTarget(row: ThroughputRow): boolean {
  return relayRatio(row) >= RELAY_TARGET_RATIO;
}

/** Per load: medians with their spread, the ratio of the medians against the target, and the per-round ratios. */
export function relayTable(rows: readonly ThroughputRow[]): string {
  return table(
    [
      "Load",
      "Petrel msg/s",
      "Postfix msg/s",
      "Petrel / Postfix",
      "Per-round ratio",
      "Petrel CPU us/msg",
      "Postfix CPU us/msg",
      `Target >= ${RELAY_TARGET_RATIO.toFixed(2)}`,
    ],
    rows.map((row) => [
      row.title,
      spread(row.petrel),
      spread(row.postfix),
      relayRatio(row).toFixed(2),
      spread(
        row.petrel.map((rate, round) => rate / row.postfix[round]!),
        2,
      ),
      spread(row.petrelCpu),
      spread(row.postfixCpu),
      meetsRelayTarget(row) ? "met" : "NOT MET",
    ]),
  );
}

/** One memory figure; a figure without a target is printed for information. */
export type MemoryRow = { measure: string; bytes: number; targetBytes?: number };

export function meetsTarget(row: MemoryRow): boolean {
  return row.targetBytes === undefined || row.bytes < row.targetBytes;
}

export function memoryTable(rows: readonly MemoryRow[]): string {
  return table(
    ["Memory", "MiB", "Target", "Result"],
    rows.map((row) => [
      row.measure,
      (row.bytes / MiB).toFixed(1),
      row.targetBytes === undefined ? "-" : `< ${row.targetBytes / MiB}`,
      row.targetBytes === undefined ? "-" : meetsTarget(row) ? "pass" : "FAIL",
    ]),
  );
}
