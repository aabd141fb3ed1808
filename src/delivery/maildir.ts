// Delivery into a Maildir (cr.yp.to/proto/maildir.html), the way qmail and Dovecot's LDA do it: the message is
// written into tmp/ under a name unique to this delivery, fsynced, hard-linked into new/ with Dovecot's
// `,S=<size>` (the stored size, which lets Dovecot skip a stat), and the delivery is complete only once new/
// itself is fsynced. link() never replaces an existing file, so no message is ever overwritten. Any failure
// removes what this delivery created (the tmp file, and the new/ file when new/ could not be fsynced), so a
// retry never makes a second copy. The folder and its tmp/ new/ cur/ are created (mode 0700) when missing.
// This file must never rename over a name in new/, and never report success before new/ is durable.

import { link, mkdir, open, unlink } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { hostname } from "node:os";
import { dirname, isAbsolute, join } from "node:path";
import { systemErrorCode } from "../queue/spool-errors.ts";
import type { LocalDelivery } from "./local-delivery.ts";
import { LocalDeliveryError, localDeliveryErrorFrom, storedMessage, syncFolder, writeAll } from "./local-delivery.ts";

const subfolders = ["tmp", "new", "cur"] as const;

/**
 * Delivers one copy into the Maildir `folder` (an absolute path). Resolves with the path of the file in new/
 * once it is durable; rejects with a LocalDeliveryError, leaving nothing of the message behind.
 */
export async function deliverToMaildir(folder: string, delivery: LocalDelivery): Promise<{ file: string }> {
  if (!isAbsolute(folder)) {
    throw new LocalDeliveryError("4.3.5", `message ${delivery.queueId}: the Maildir path "${folder}" is not absolute`);
  }
  const message = storedMessage(delivery, { quoteFrom: false });
  const name = uniqueName();
  const draft = join(folder, "tmp", name);
  let file: FileHandle | null = null;
  let delivered: string | null = null;
  try {
    file = await createDraft(folder, draft);
    let size = 0;
    for await (const piece of message) {
      await writeAll(file, piece);
      size += piece.length;
    }
    await file.datasync();
    await file.close();
    file = null;
    const target = join(folder, "new", `${name},S=${size}`);
    await linkIntoNew(folder, draft, target);
    delivered = target;
    await unlink(draft);
    await syncFolder(join(folder, "new"));
    return { file: delivered };
  } catch (error) {
    await file?.close().catch(() => {});
    await unlink(draft).catch(() => {});
    if (delivered !== null) await unlink(delivered).catch(() => {});
    throw localDeliveryErrorFrom(error, `message ${delivery.queueId}: delivery into the Maildir ${folder}`);
  }
}

/** Opens tmp/<name> exclusively (mode 0600); makes the Maildir first if tmp/ is missing. */
async function createDraft(folder: string, draft: string): Promise<FileHandle> {
  try {
    return await open(draft, "wx", 0o600);
  } catch (error) {
    if (systemErrorCode(error) !== "ENOENT") throw error;
    await makeMaildir(folder);
    return await open(draft, "wx", 0o600);
  }
}

/** Links the draft into new/ (EEXIST is a failure, never a replacement); makes new/ if it went missing. */
async function linkIntoNew(folder: string, draft: string, target: string): Promise<void> {
  try {
    await link(draft, target);
  } catch (error) {
    if (systemErrorCode(error) !== "ENOENT") throw error;
    await makeMaildir(folder);
    await link(draft, target);
  }
}

/**
 * Creates the folder (and missing parents) and tmp/ new/ cur/, mode 0700, keeping what exists, then fsyncs
 * every folder that gained an entry, so the Maildir survives a crash along with the first message in it.
 */
async function makeMaildir(folder: string): Promise<void> {
  const topmost = await mkdir(folder, { recursive: true, mode: 0o700 });
  for (const subfolder of subfolders) {
    await mkdir(join(folder, subfolder), { mode: 0o700 }).catch((error: unknown) => {
      if (systemErrorCode(error) !== "EEXIST") throw error;
    });
  }
  const lastChanged = topmost === undefined ? folder : dirname(topmost);
  for (let changed = folder; ; changed = dirname(changed)) {
    await syncFolder(changed);
    if (changed === lastChanged || changed === dirname(changed)) break;
  }
}

/** Deliveries made by this process so far: the Q part of unique names. */
let deliveries = 0;

/**
 * `<seconds>.M<microseconds>P<pid>Q<deliveries>.<host>`, the Maildir spec's recommended unique name, with "/"
 * and ":" in the host name written as \057 and \072 as the spec asks.
 */
function uniqueName(): string {
  const micros = Math.floor((performance.timeOrigin + performance.now()) * 1000);
  deliveries += 1;
  const host = hostname().replaceAll("/", "\\057").replaceAll(":", "\\072");
  return `${Math.floor(micros / 1_000_000)}.M${micros % 1_000_000}P${process.pid}Q${deliveries}.${host}`;
}
