// What an SMTP worker that died leaves in the spool: the body files of the messages it was receiving (not yet
// committed) and the envelopes of a commit it did not finish, in tmp/. The primary removes them before it starts
// the worker's replacement, so that a crash does not leave them until the next full start (where recovery.ts
// removes every body no envelope names, and empties tmp/).
// Only files of that worker's own ids qualify (queue-id.ts writes the worker number into every id) made while it
// ran, so nothing of another process, or of another run, is looked at. A body goes only when it lacks the
// committed mark (committed-body.js) and no envelope names it in any state: a body whose commit got as far as the
// mark stays, even if the envelope never made it in (recovery removes it at the next start).
// This must run while no process with that worker number runs: the replacement starts after it.

import { lstat } from "node:fs/promises";
import { isCommittedBody } from "./committed-body.js";
import { queueIdTime, queueIdWorker } from "./queue-id.ts";
import type { SpoolDisk } from "./spool-disk.ts";
import { systemErrorCode } from "./spool-errors.ts";
import { bodyFolder, type SpoolPaths, spoolStates, tmpFolder } from "./spool-layout.ts";

/** The worker that died: its number and the span of time it ran (milliseconds since 1970). */
export type DeadWorker = { readonly number: number; readonly startedAt: number; readonly diedAt: number };

/** Removes what `dead` left; resolves with the names removed, as `body/<name>` and `tmp/<name>`. */
export async function removeWorkerLeftovers(disk: SpoolDisk, paths: SpoolPaths, dead: DeadWorker): Promise<string[]> {
  const ours = (name: string): boolean => {
    const id = name.split(".")[0]!;
    const time = queueIdTime(id);
    return queueIdWorker(id) === dead.number && time !== undefined && time >= dead.startedAt && time <= dead.diedAt;
  };
  const removed: string[] = [];
  // An envelope left in tmp/ by a commit that did not finish: never renamed in, never acknowledged.
  for (const name of await disk.readDirectory(paths.folder(tmpFolder))) {
    if (name.includes(".") || !ours(name)) continue; // <id>.<pid>.<n>: another process's rewrite
    if (await removeIfThere(disk, paths.tmp(name))) removed.push(`${tmpFolder}/${name}`);
  }
  const candidates: string[] = [];
  for (const name of await disk.readDirectory(paths.folder(bodyFolder))) {
    if (ours(name) && !(await committed(paths.body(name)))) candidates.push(name);
  }
  if (candidates.length === 0) return removed;
  const named = await envelopeIds(disk, paths);
  for (const name of candidates) {
    if (named.has(name.split(".")[0]!)) continue;
    if (await removeIfThere(disk, paths.body(name))) removed.push(`${bodyFolder}/${name}`);
  }
  return removed;
}

/** Whether the body file carries the committed mark; a file gone meanwhile counts as committed (left alone). */
async function committed(path: string): Promise<boolean> {
  try {
    return isCommittedBody((await lstat(path)).mode);
  } catch (error) {
    if (systemErrorCode(error) === "ENOENT") return true;
    throw error;
  }
}

/** The ids every state folder (and tmp/) holds an envelope for; corrupt/ names are `<id>` or `<id>.<n>`. */
async function envelopeIds(disk: SpoolDisk, paths: SpoolPaths): Promise<Set<string>> {
  const ids = new Set<string>();
  for (const folder of [tmpFolder, ...spoolStates] as const) {
    for (const name of await disk.readDirectory(paths.folder(folder))) ids.add(name.split(".")[0]!);
  }
  return ids;
}

/** Removes the file; false when it was gone already. */
async function removeIfThere(disk: SpoolDisk, path: string): Promise<boolean> {
  try {
    await disk.remove(path);
    return true;
  } catch (error) {
    if (systemErrorCode(error) === "ENOENT") return false;
    throw error;
  }
}
