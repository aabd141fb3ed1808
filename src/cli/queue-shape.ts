// `petrel queue shape`: the queue's shape as Postfix's qshape draws it, a table of domains by age. Rows are the
// domains of the recipients still pending (each recipient counted once) or, `--by sender`, the senders' domains
// (each message counted once); a TOTAL row comes first, then domains by count. Columns are the total, then age
// buckets in minutes: "5" counts what arrived less than 5 minutes ago, "10" from 5 to 10 minutes, ... "1280+"
// what is older than 1280 minutes. It only counts what it is given.

import type { QueueFilters, ShapeBy } from "./queue-arguments.ts";
import type { QueueEntry } from "./queue-selection.ts";
import { domainOf, recipientMatches } from "./queue-selection.ts";
import { columns, printable } from "./queue-text.ts";

/** The upper ends of the age buckets, in minutes; one more bucket holds everything older. */
export const bucketMinutes = [5, 10, 20, 40, 80, 160, 320, 640, 1280] as const;

export type ShapeRow = { domain: string; total: number; buckets: number[] };

export type QueueShape = { by: ShapeBy; bucketMinutes: readonly number[]; total: ShapeRow; domains: ShapeRow[] };

/** The name of the row for addresses without a domain (the null sender, `postmaster`). */
const noDomain = "(none)";

export function queueShape(entries: readonly QueueEntry[], by: ShapeBy, filters: QueueFilters, now: number): QueueShape {
  const total = emptyRow("TOTAL");
  const rows = new Map<string, ShapeRow>();
  const count = (domain: string, bucket: number) => {
    const row = rows.get(domain) ?? emptyRow(domain);
    rows.set(domain, row);
    for (const counted of [total, row]) {
      counted.total += 1;
      counted.buckets[bucket]! += 1;
    }
  };
  for (const { envelope } of entries) {
    if (envelope === null) continue;
    const bucket = bucketOf(now - Date.parse(envelope.receivedAt));
    if (by === "sender") {
      count(domainOf(envelope.sender) || noDomain, bucket);
      continue;
    }
    for (const recipient of envelope.recipients) {
      if (recipientMatches(recipient, filters)) count(domainOf(recipient.address) || noDomain, bucket);
    }
  }
  const domains = [...rows.values()].sort((a, b) => b.total - a.total || (a.domain < b.domain ? -1 : a.domain > b.domain ? 1 : 0));
  return { by, bucketMinutes, total, domains };
}

/** The bucket of a message this many milliseconds old (a future arrival counts as new). */
export function bucketOf(milliseconds: number): number {
  const minutes = Number.isNaN(milliseconds) ? 0 : milliseconds / 60_000;
  const index = bucketMinutes.findIndex((limit) => minutes < limit);
  return index < 0 ? bucketMinutes.length : index;
}

export function shapeJson(shape: QueueShape): string {
  return `${JSON.stringify(shape, null, 2)}\n`;
}

export function shapeText(shape: QueueShape): string {
  const header = ["", "T", ...bucketMinutes.map(String), `${bucketMinutes.at(-1)}+`];
  const rows = [shape.total, ...shape.domains].map((row) => [printable(row.domain), String(row.total), ...row.buckets.map(String)]);
  // Every column right-aligned, domains too, as qshape prints them.
  const right = new Set(header.map((_, column) => column));
  return `${columns([header, ...rows], right).join("\n")}\n`;
}

function emptyRow(domain: string): ShapeRow {
  return { domain, total: 0, buckets: new Array<number>(bucketMinutes.length + 1).fill(0) };
}
