// Spool recovery, run once by the primary process at start, BEFORE any worker accepts mail (a body
// being streamed has no envelope yet and would be taken for an orphan). It puts the spool back into a
// state where every envelope in a live state names a complete message:
// - tmp/ leftovers are removed: an envelope still in tmp/ was never renamed in, never acknowledged;
// - an envelope that cannot be read, or whose body is missing or of another size, or whose id is
//   already in an earlier state, is moved to corrupt/ (never deleted, the admin decides);
// - a body that no envelope in any state (corrupt/ included) names is removed: it was never acknowledged;
// then it fsyncs every directory it changed and reports counts per state and what it did, for the log.
// Disk errors (EIO...) stop recovery with a SpoolError instead of moving healthy mail aside.

import { parseEnvelopeFile } from "./envelope.ts";
import type { SpoolDisk } from "./spool-disk.ts";
import { spoolErrorFrom, systemErrorCode } from "./spool-errors.ts";
import { bodyFolder, isSafeId, liveStates, spoolStates, tmpFolder } from "./spool-layout.ts";
import type { SpoolPaths, State } from "./spool-layout.ts";

export type MovedToCorrupt = { name: string; from: State; reason: string; corruptName: string };

export type RecoveryReport = {
  counts: Record<State, number>;
  removedTemporary: string[];
  removedOrphanBodies: string[];
  movedToCorrupt: MovedToCorrupt[];
};

export async function recoverSpool(disk: SpoolDisk, paths: SpoolPaths): Promise<RecoveryReport> {
  try {
    return await recover(disk, paths);
  } catch (error) {
    throw spoolErrorFrom(error, `recovering the spool ${paths.root}`);
  }
}

async function recover(disk: SpoolDisk, paths: SpoolPaths): Promise<RecoveryReport> {
  const counts = Object.fromEntries(spoolStates.map((state) => [state, 0])) as Record<State, number>;
  const report: RecoveryReport = { counts, removedTemporary: [], removedOrphanBodies: [], movedToCorrupt: [] };
  const changed = new Set<string>();

  for (const name of await disk.readDirectory(paths.folder(tmpFolder))) {
    await disk.remove(paths.tmp(name));
    report.removedTemporary.push(name);
    changed.add(paths.folder(tmpFolder));
  }

  const owners = new Map<string, State>();
  const corruptNames = new Set(await disk.readDirectory(paths.folder("corrupt")));
  for (const state of liveStates) {
    for (const name of (await disk.readDirectory(paths.folder(state))).sort()) {
      const problem = await findProblem(disk, paths, state, name, owners);
      if (problem === undefined) {
        owners.set(name, state);
        counts[state] += 1;
        continue;
      }
      const corruptName = freeName(name, corruptNames);
      await disk.rename(paths.envelope(state, name), paths.envelope("corrupt", corruptName));
      corruptNames.add(corruptName);
      report.movedToCorrupt.push({ name, from: state, reason: problem, corruptName });
      changed.add(paths.folder(state));
      changed.add(paths.folder("corrupt"));
    }
  }
  counts.corrupt = corruptNames.size;
  const corruptIds = new Set([...corruptNames].map((name) => name.split(".")[0]));

  for (const name of (await disk.readDirectory(paths.folder(bodyFolder))).sort()) {
    if (owners.has(name) || corruptIds.has(name)) continue;
    await disk.remove(paths.body(name));
    report.removedOrphanBodies.push(name);
    changed.add(paths.folder(bodyFolder));
  }

  await Promise.all([...changed].map((folder) => disk.syncDirectory(folder)));
  return report;
}

/** Why the envelope file `state/name` does not name a complete message, or undefined if it does. */
async function findProblem(
  disk: SpoolDisk,
  paths: SpoolPaths,
  state: State,
  name: string,
  owners: ReadonlyMap<string, State>,
): Promise<string | undefined> {
  if (!isSafeId(name)) return "the file name is not a queue id";
  const earlier = owners.get(name);
  if (earlier !== undefined) return `the same id is also in ${earlier}/`;
  let bytes: Buffer;
  try {
    bytes = await disk.readFile(paths.envelope(state, name));
  } catch (error) {
    if (systemErrorCode(error) === "EISDIR") return "a directory, not an envelope file";
    throw error;
  }
  const check = parseEnvelopeFile(bytes, name);
  if (!check.ok) return `unreadable envelope: ${check.problem}`;
  const bodySize = await disk.sizeOf(paths.body(name));
  if (bodySize === undefined) return "the body file is missing";
  if (bodySize !== check.envelope.size) {
    return `the body file has ${bodySize} bytes, the envelope says ${check.envelope.size}`;
  }
  return undefined;
}

/** `name`, or `name.1`, `name.2`... whichever is not taken in corrupt/. */
function freeName(name: string, taken: ReadonlySet<string>): string {
  if (!taken.has(name)) return name;
  let n = 1;
  while (taken.has(`${name}.${n}`)) n += 1;
  return `${name}.${n}`;
}
