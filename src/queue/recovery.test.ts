// Tests of crash recovery: each damaged case moved aside, never-acknowledged files removed, the rest kept.

import assert from "node:assert/strict";
import { readdir, readFile, truncate, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { draftFor, freshDirectory, recordingDisk } from "./fixtures/spool-fixtures.ts";
import { Spool } from "./spool.ts";

async function spoolMessage(spool: Spool, id: string, text = `Subject: ${id}\r\n\r\nbody of ${id}\r\n`): Promise<void> {
  const writer = spool.create(id);
  writer.write(Buffer.from(text));
  await writer.commit(draftFor(id));
}

async function idsIn(root: string, folder: string): Promise<string[]> {
  return (await readdir(join(root, folder))).sort();
}

test("recovery moves every damaged case aside, removes what was never acknowledged, keeps the rest", async (t) => {
  const root = await freshDirectory(t);
  const spool = await Spool.open(root);
  const ids = ["01TTTTTTTTTTT0", "01TTTTTTTTTTT1", "01TTTTTTTTTTT2", "01TTTTTTTTTTT3", "01TTTTTTTTTTT4", "01TTTTTTTTTTT5"];
  for (const id of ids) await spoolMessage(spool, id);
  const [healthy, truncated, missingBody, shortBody, newerVersion, deferred] = ids as [string, ...string[]];
  await spool.move(deferred!, "incoming", "deferred");

  const envelope = join(root, "incoming", truncated!);
  await writeFile(envelope, (await readFile(envelope)).subarray(0, 40));
  await unlink(join(root, "body", missingBody!));
  await truncate(join(root, "body", shortBody!), 5);
  const newer = JSON.parse(await readFile(join(root, "incoming", newerVersion!), "utf8"));
  await writeFile(join(root, "incoming", newerVersion!), JSON.stringify({ ...newer, version: 2 }));
  await writeFile(join(root, "body", "01TTTTTTTTTTT9"), "an orphan body, never acknowledged");
  await writeFile(join(root, "tmp", "01TTTTTTTTTTT8"), '{"version":1');
  await writeFile(join(root, "hold", "notes.txt"), "left by an admin");

  const { disk, events } = recordingDisk();
  const report = await (await Spool.open(root, { disk })).recover();

  assert.deepEqual(report.removedTemporary, ["01TTTTTTTTTTT8"]);
  assert.deepEqual(report.removedOrphanBodies, ["01TTTTTTTTTTT9"]);
  const moved = new Map(report.movedToCorrupt.map((entry) => [entry.name, entry]));
  assert.match(moved.get(truncated!)?.reason ?? "", /not complete JSON/);
  assert.match(moved.get(missingBody!)?.reason ?? "", /body file is missing/);
  assert.match(moved.get(shortBody!)?.reason ?? "", /has 5 bytes, the envelope says \d+/);
  assert.match(moved.get(newerVersion!)?.reason ?? "", /unsupported envelope version 2/);
  assert.match(moved.get("notes.txt")?.reason ?? "", /not a queue id/);
  assert.equal(moved.get("notes.txt")?.from, "hold");
  assert.equal(moved.size, 5);
  assert.deepEqual(report.counts, { incoming: 1, active: 0, deferred: 1, hold: 0, quarantine: 0, corrupt: 5 });

  assert.deepEqual(await idsIn(root, "incoming"), [healthy]);
  assert.deepEqual(await idsIn(root, "deferred"), [deferred]);
  assert.deepEqual(await idsIn(root, "corrupt"), [truncated, missingBody, shortBody, newerVersion, "notes.txt"].sort());
  assert.deepEqual(await idsIn(root, "tmp"), []);
  // Bodies of damaged messages stay beside their envelope in corrupt/: nothing damaged is deleted.
  assert.deepEqual(await idsIn(root, "body"), [healthy, truncated, shortBody, newerVersion, deferred].sort());

  const synced = new Set(events.filter((event) => event.call === "syncDirectory:end").map((event) => event.path));
  for (const folder of ["tmp", "body", "incoming", "hold", "corrupt"]) {
    assert.ok(synced.has(join(root, folder)), `${folder}/ changed and must be fsynced`);
  }

  const again = await spool.recover();
  assert.deepEqual([again.removedTemporary, again.removedOrphanBodies, again.movedToCorrupt], [[], [], []]);
  assert.deepEqual(again.counts, report.counts);
});

test("an id found in two states keeps the first and moves the copy aside under a free name", async (t) => {
  const root = await freshDirectory(t);
  const spool = await Spool.open(root);
  await spoolMessage(spool, "01UUUUUUUUUUUU");
  const bytes = await readFile(join(root, "incoming", "01UUUUUUUUUUUU"));
  await writeFile(join(root, "active", "01UUUUUUUUUUUU"), bytes);
  await writeFile(join(root, "corrupt", "01UUUUUUUUUUUU"), "moved aside by an earlier recovery");
  const report = await spool.recover();
  assert.deepEqual(report.movedToCorrupt, [
    { name: "01UUUUUUUUUUUU", from: "active", reason: "the same id is also in incoming/", corruptName: "01UUUUUUUUUUUU.1" },
  ]);
  assert.deepEqual(await idsIn(root, "corrupt"), ["01UUUUUUUUUUUU", "01UUUUUUUUUUUU.1"]);
  assert.equal(await readFile(join(root, "corrupt", "01UUUUUUUUUUUU"), "utf8"), "moved aside by an earlier recovery");
  assert.deepEqual(await idsIn(root, "body"), ["01UUUUUUUUUUUU"]);
});

test("a recovered healthy spool is left exactly as it was", async (t) => {
  const root = await freshDirectory(t);
  const spool = await Spool.open(root);
  await spoolMessage(spool, "01VVVVVVVVVVVV");
  const { disk, events } = recordingDisk();
  const reopened = await Spool.open(root, { disk });
  events.length = 0;
  const report = await reopened.recover();
  assert.equal(report.counts.incoming, 1);
  assert.deepEqual(events, [], "nothing to change, nothing to rename or fsync");
  assert.deepEqual(await idsIn(root, "body"), ["01VVVVVVVVVVVV"]);
});
