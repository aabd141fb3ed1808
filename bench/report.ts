// Turns the benchmark's measurements into the tables it prints: throughput medians with the
// Petrel/Postfix ratio, and memory figures against their targets. The tables are Markdown, so a run's
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
