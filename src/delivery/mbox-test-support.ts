// Test support for the mbox tests (mbox.test.ts, mbox-locks.test.ts; no product code uses it): scratch folders,
// spooled deliveries, the expected refusal, an mboxrd reader with mutt's From_ line rules that refuses anything
// doubtful, and numbered messages whose Subject says how long their body is (a torn one shows).

import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import type { LocalDelivery } from "./local-delivery.ts";
import { LocalDeliveryError } from "./local-delivery.ts";

export async function scratch(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "petrel-mbox-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

let spooled = 0;

export async function delivery(dir: string, bytes: Buffer | string, sender = "alice@example.org"): Promise<LocalDelivery> {
  spooled += 1;
  const bodyPath = join(dir, `body-${spooled}`);
  await writeFile(bodyPath, bytes);
  return { queueId: `Q${spooled}`, sender, recipient: "bob@example.net", bodyPath };
}

export function rejectsWith(status: string, temporary: boolean) {
  return (error: unknown) => error instanceof LocalDeliveryError && error.status === status && error.temporary === temporary;
}

export const latin1 = (bytes: Buffer) => bytes.toString("latin1");
export const bytesOf = (text: string) => Buffer.from(text, "latin1");

// mutt's is_from(): "From " sender, then an asctime date
const weekday = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)";
const month = "(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)";
const fromLine = new RegExp(`^From (\\S+) ${weekday} ${month} [ \\d]\\d \\d\\d:\\d\\d:\\d\\d \\d{4}$`);

/**
 * An mboxrd reader that refuses anything doubtful: every line starting "From " must be a well-formed From_
 * line at the start of the file or after a blank line, and the file must end with a blank line.
 */
export function readMboxrd(file: Buffer): { sender: string; message: Buffer }[] {
  const text = latin1(file);
  if (text === "") return [];
  assert.ok(text.endsWith("\n\n"), "the mbox ends with a blank line");
  const lines = text.slice(0, -1).split("\n");
  const messages: { sender: string; lines: string[] }[] = [];
  for (const [index, line] of lines.entries()) {
    if (!line.startsWith("From ")) {
      assert.ok(messages.length > 0, "the mbox starts with a From_ line");
      messages.at(-1)?.lines.push(line.replace(/^>(>*From )/, "$1"));
      continue;
    }
    const match = fromLine.exec(line);
    assert.ok(match, `a well-formed From_ line: ${line.slice(0, 80)}`);
    assert.ok(index === 0 || lines[index - 1] === "", `a From_ line after a blank line: ${line}`);
    messages.at(-1)?.lines.pop(); // the blank line belongs to the separation
    messages.push({ sender: match[1] ?? "", lines: [] });
  }
  messages.at(-1)?.lines.pop();
  return messages.map(({ sender, lines: body }) => ({ sender, message: bytesOf(body.map((line) => `${line}\n`).join("")) }));
}

/** A message body for the concurrency tests: its Subject names it and says how long the body is. */
export function numbered(name: string, index: number): { name: string; spooled: string; body: string } {
  const lines = Array.from({ length: (index * 7919) % 4000 }, (_, line) => `${name} line ${line} ${"x".repeat(40)}`);
  const body = lines.map((line) => `${line}\n`).join("");
  return { name, spooled: `Subject: ${name} ${body.length}\r\n\r\n${body.replaceAll("\n", "\r\n")}`, body };
}

