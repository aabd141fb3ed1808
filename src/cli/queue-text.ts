// How `petrel queue` writes for a person: text made safe for a terminal (mail carries whatever bytes a
// sender chose, so control characters never reach the screen), coarse ages and delays, and columns.
// Nothing here reads the spool or decides anything.

import type { Writable } from "node:stream";

/** Replaces control characters (which could drive the terminal) with "?". */
export function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, "?");
}

/** The header bytes as they are, except control bytes other than TAB, CR and LF. */
export function printableHeaders(headers: Buffer): Buffer {
  const copy = Buffer.from(headers);
  for (let i = 0; i < copy.length; i++) {
    const byte = copy[i]!;
    if ((byte < 0x20 && byte !== 0x09 && byte !== 0x0a && byte !== 0x0d) || byte === 0x7f) copy[i] = 0x3f;
  }
  return copy;
}

/** At most `length` characters of one-line text, with "..." where it was cut. */
export function shortened(text: string, length: number): string {
  const line = printable(text.replace(/\s*\r?\n\s*/g, " "));
  return line.length <= length ? line : `${line.slice(0, length - 3)}...`;
}

/** 45s, 12m, 5h, 3d: coarse, like qshape's buckets; "?" for a time that does not parse. */
export function span(milliseconds: number): string {
  if (Number.isNaN(milliseconds)) return "?";
  const seconds = Math.max(0, Math.floor(milliseconds / 1000));
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 48 * 3600) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86400)}d`;
}

/** How long ago an ISO 8601 time was. */
export function age(time: string, now: number): string {
  return span(now - Date.parse(time));
}

/**
 * Rows as aligned columns, two spaces apart; the columns named in `right` are right-aligned, and the last
 * column is never padded (it runs to the end of the line).
 */
export function columns(rows: readonly (readonly string[])[], right: ReadonlySet<number>): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    for (const [column, cell] of row.entries()) widths[column] = Math.max(widths[column] ?? 0, cell.length);
  }
  return rows.map((row) =>
    row
      .map((cell, column) => {
        if (right.has(column)) return cell.padStart(widths[column]!);
        return column === row.length - 1 ? cell : cell.padEnd(widths[column]!);
      })
      .join("  "),
  );
}

/** Writes and waits until the stream took it. */
export function emit(stream: Writable, text: string | Buffer): Promise<void> {
  return new Promise((resolve) => stream.write(text, () => resolve()));
}
