// Tests of group commit: batching of directory fsyncs, and that no commit resolves before its own
// file fsyncs and a directory fsync begun after its rename.

import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { DirectorySync } from "./directory-sync.ts";
import { draftFor, freshDirectory, recordingDisk } from "./fixtures/spool-fixtures.ts";
import type { DiskEvent } from "./fixtures/spool-fixtures.ts";
import { Spool } from "./spool.ts";

/** An fsync the test finishes by hand. */
function manualFsync() {
  const started: { finish: (error?: Error) => void }[] = [];
  const syncNow = () =>
    new Promise<void>((resolve, reject) => {
      started.push({ finish: (error) => (error ? reject(error) : resolve()) });
    });
  return { started, syncNow };
}

test("callers arriving during an fsync share the single next one, which starts after it", async () => {
  const { started, syncNow } = manualFsync();
  const directory = new DirectorySync(syncNow);
  const settled: string[] = [];
  const first = directory.sync().then(() => settled.push("first"));
  const joiners = [1, 2, 3].map((n) => directory.sync().then(() => settled.push(`joiner ${n}`)));
  assert.equal(started.length, 1, "the joiners must not start an fsync while one runs");
  started[0]!.finish();
  await first;
  assert.deepEqual(settled, ["first"], "the running fsync began before the joiners asked: it cannot cover them");
  await new Promise<void>((resolve) => setImmediate(resolve));
  assert.equal(started.length, 2);
  started[1]!.finish();
  await Promise.all(joiners);
  assert.deepEqual(settled, ["first", "joiner 1", "joiner 2", "joiner 3"]);
  assert.equal(started.length, 2);
});

test("an fsync error rejects exactly the callers it was meant to cover", async () => {
  const { started, syncNow } = manualFsync();
  const directory = new DirectorySync(syncNow);
  const first = directory.sync();
  const second = directory.sync();
  started[0]!.finish(new Error("EIO"));
  await assert.rejects(first, /EIO/);
  await new Promise<void>((resolve) => setImmediate(resolve));
  started[1]!.finish();
  await second;
  const third = directory.sync();
  assert.equal(started.length, 3, "after a quiet moment a caller starts a new fsync at once");
  started[2]!.finish();
  await third;
});

test("50 concurrent commits fsync every step in order yet share far fewer than 50 fsyncs of incoming/", async (t) => {
  const root = await freshDirectory(t);
  const { disk, events } = recordingDisk();
  const spool = await Spool.open(root, { disk });
  events.length = 0;
  const ids = Array.from({ length: 50 }, (_, n) => `01MMMMMMMMMM${String(n).padStart(2, "0")}`);
  await Promise.all(
    ids.map(async (id) => {
      const writer = spool.create(id);
      writer.write(Buffer.from(`Subject: ${id}\r\n\r\nhello\r\n`));
      await writer.commit(draftFor(id));
      events.push({ call: "resolved", path: id });
    }),
  );
  const incoming = join(root, "incoming");
  const fsyncs = events.filter((event) => event.call === "syncDirectory:start" && event.path === incoming);
  const bodyFsyncs = events.filter((event) => event.call === "syncDirectory:start" && event.path === join(root, "body"));
  t.diagnostic(`incoming/ fsyncs: ${fsyncs.length}, body/ fsyncs: ${bodyFsyncs.length} for 50 commits`);
  assert.ok(fsyncs.length <= 25, `expected batching, got ${fsyncs.length} fsyncs of incoming/ for 50 commits`);
  // body/ is fsynced inside each message's commitMessage (one trip to a file thread), not batched.
  assert.ok(bodyFsyncs.length >= 1);
  const body = join(root, "body");
  for (const id of ids) {
    const created = events.findIndex((event) => event.call === "create" && event.path === join(body, id));
    const renamed = events.findIndex((event) => event.call === "rename" && event.to === join(incoming, id));
    const resolved = events.findIndex((event) => event.call === "resolved" && event.path === id);
    assert.ok(created >= 0 && renamed > created && resolved > renamed, `events of ${id} out of order`);
    const fsynced = (path: string) => events.findIndex((event) => event.call === "fsync" && event.path === path);
    assert.ok(fsynced(join(body, id)) > created && fsynced(join(body, id)) < renamed, `${id}: body not fsynced first`);
    const tmp = join(root, "tmp", id);
    assert.ok(fsynced(tmp) > 0 && fsynced(tmp) < renamed, `${id}: envelope not fsynced before its rename`);
    assert.ok(fsyncSpans(events, body, created, renamed), `${id}: envelope renamed in before body/ was fsynced`);
    assert.ok(fsyncBetween(events, incoming, renamed, resolved), `${id}: commit resolved before incoming/ was fsynced`);
  }
});

/** True if an fsync of `folder` starts after event `after` and one ends after that start, before event `before`. */
function fsyncSpans(events: DiskEvent[], folder: string, after: number, before: number): boolean {
  const start = events.findIndex((event, index) => index > after && event.call === "syncDirectory:start" && event.path === folder);
  if (start < 0) return false;
  return events.some(
    (event, index) => index > start && index < before && event.call === "syncDirectory:end" && event.path === folder,
  );
}

/** True if an fsync of `folder` started after event `after` and ended before event `before`. */
function fsyncBetween(events: DiskEvent[], folder: string, after: number, before: number): boolean {
  // One fsync of a folder runs at a time, so the n-th end belongs to the n-th start.
  const starts: number[] = [];
  let ended = 0;
  for (const [index, event] of events.entries()) {
    if (event.path !== folder) continue;
    if (event.call === "syncDirectory:start") starts.push(index);
    if (event.call === "syncDirectory:end" && starts[ended++]! > after && index < before) return true;
  }
  return false;
}
