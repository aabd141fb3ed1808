// Shared by the tests of `petrel queue` (src/cli/queue-*.test.ts and test/queue-control.test.ts): output
// collectors, a runner with a fixed clock, and `plant`, which puts a message straight into any state the way the
// spool would have left it (body first, then the envelope renamed in), so that a running scheduler never sees it
// in incoming/ first. Test code only: nothing in src/ imports it.

import { rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Writable } from "node:stream";
import { serializeEnvelope } from "../queue/envelope.ts";
import type { Envelope, EnvelopeDraft } from "../queue/envelope.ts";
import { draftFor } from "../queue/fixtures/spool-fixtures.ts";
import type { SpoolDisk } from "../queue/spool-disk.ts";
import type { State } from "../queue/spool-layout.ts";
import { runQueueCommand } from "./queue-command.ts";

/** The fixtures' arrival time: 2025-03-01T10:00:00.000Z. */
export const receivedAt = Date.parse(draftFor("x").receivedAt);

export const minutes = (count: number) => count * 60_000;

export function collector(): { stream: Writable; bytes: () => Buffer; text: () => string } {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(Buffer.from(chunk));
      done();
    },
  });
  const bytes = () => Buffer.concat(chunks);
  return { stream, bytes, text: () => bytes().toString("utf8") };
}

export type QueueRun = { code: number; out: string; errors: string; bytes: Buffer };

/** Runs `petrel queue ...argv` in this process; the clock stands `at` (default 5 minutes after arrival). */
export async function runQueue(argv: string[], root: string, options: { at?: number; disk?: SpoolDisk } = {}): Promise<QueueRun> {
  const out = collector();
  const errors = collector();
  const at = options.at ?? receivedAt + minutes(5) + 7000;
  const code = await runQueueCommand(argv, root, out.stream, { errors: errors.stream, now: () => at, disk: options.disk });
  return { code, out: out.text(), errors: errors.text(), bytes: out.bytes() };
}

/** What a planted message differs in from the fixtures' draft (recipients as addresses or whole records). */
export type Planting = Omit<Partial<EnvelopeDraft>, "recipients"> & {
  recipients?: readonly (string | EnvelopeDraft["recipients"][number])[];
  body?: string;
};

/** Writes a complete message with id `id` straight into `state` of the spool at `root` (whose folders exist). */
export async function plant(root: string, state: State, id: string, planting: Planting = {}): Promise<Envelope> {
  const { recipients = ["bob@example.net"], body = `Subject: ${id}\r\n\r\nhello\r\n`, ...rest } = planting;
  const bytes = Buffer.from(body, "latin1");
  const envelope: Envelope = {
    version: 1,
    ...draftFor(id),
    ...rest,
    recipients: recipients.map((recipient) => (typeof recipient === "string" ? { address: recipient, status: "pending" } : recipient)),
    size: bytes.length,
  };
  await writeFile(join(root, "body", id), bytes);
  await writeFile(join(root, "tmp", `${id}.planted`), serializeEnvelope(envelope));
  await rename(join(root, "tmp", `${id}.planted`), join(root, state, id));
  return envelope;
}

/** An ISO time `offset` milliseconds from the fixtures' arrival time. */
export function isoAt(offset: number): string {
  return new Date(receivedAt + offset).toISOString();
}
