// Tests of `petrel queue hold|release|flush|requeue|bounce|remove` on a spool built by the fixtures: where each
// action takes a message from and to, what it changes in the envelope, refusals (active/, wrong state, unknown id)
// that change nothing, selection by filters, --json, and the scheduler moving a message in the middle of an action.

import assert from "node:assert/strict";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { freshDirectory } from "../queue/fixtures/spool-fixtures.ts";
import { nodeSpoolDisk } from "../queue/spool-disk.ts";
import type { SpoolDisk } from "../queue/spool-disk.ts";
import { Spool } from "../queue/spool.ts";
import type { Envelope, State } from "../queue/spool.ts";
import { bounceDiagnostic, bounceStatus } from "./queue-actions.ts";
import { isoAt, minutes, plant, receivedAt, runQueue } from "./queue-fixtures.ts";

const now = receivedAt + minutes(30);
const run = (argv: string[], root: string, disk?: SpoolDisk) => runQueue(argv, root, { at: now, disk });

async function spoolAt(t: Parameters<typeof freshDirectory>[0]): Promise<string> {
  const root = await freshDirectory(t);
  await Spool.open(root);
  return root;
}

/** Where each message is: "state/id" for every envelope file in the spool's state folders. */
async function places(root: string): Promise<string[]> {
  const found: string[] = [];
  for (const state of ["incoming", "active", "deferred", "hold", "quarantine", "corrupt"] as const) {
    for (const name of await readdir(join(root, state))) found.push(`${state}/${name}`);
  }
  return found.sort();
}

async function envelopeIn(root: string, state: State, id: string): Promise<Envelope> {
  return JSON.parse(await readFile(join(root, state, id), "utf8")) as Envelope;
}

const deferredOnce = {
  schedule: { runs: 2, nextAttemptAt: isoAt(minutes(60)), delayWarnedAt: isoAt(minutes(20)) },
  recipients: [
    { address: "bob@example.net", status: "delivered" as const, attempts: 1, last: { at: isoAt(minutes(1)), status: "2.0.0", diagnostic: "250 ok" }, reported: true as const },
    { address: "carol@example.net", status: "pending" as const, attempts: 2, last: { at: isoAt(minutes(10)), status: "4.4.1", diagnostic: "connection refused" } },
    { address: "dave@example.org", status: "pending" as const, notify: ["FAILURE" as const] },
  ],
};

test("hold takes incoming and deferred mail to hold/; a held message is already held; others are refused", async (t) => {
  const root = await spoolAt(t);
  await plant(root, "incoming", "01HHHHHHHHHHH1");
  await plant(root, "deferred", "01HHHHHHHHHHH2");
  await plant(root, "hold", "01HHHHHHHHHHH3");
  await plant(root, "quarantine", "01HHHHHHHHHHH4");
  const { code, out, errors } = await run(["hold", "01HHHHHHHHHHH1", "01HHHHHHHHHHH2", "01HHHHHHHHHHH3", "01HHHHHHHHHHH4"], root);
  assert.equal(code, 1, "one message could not be held");
  assert.equal(
    out,
    "01HHHHHHHHHHH1: held (was in incoming/)\n01HHHHHHHHHHH2: held (was in deferred/)\n01HHHHHHHHHHH3: already in hold/\n",
  );
  assert.equal(errors, "petrel queue hold: 01HHHHHHHHHHH4: is in quarantine/; hold takes messages in incoming/, deferred/\n");
  assert.deepEqual(await places(root), ["hold/01HHHHHHHHHHH1", "hold/01HHHHHHHHHHH2", "hold/01HHHHHHHHHHH3", "quarantine/01HHHHHHHHHHH4"]);
});

test("release takes held mail to incoming/, and quarantined mail only when named, dropping the quarantine's name", async (t) => {
  const root = await spoolAt(t);
  await plant(root, "hold", "01RRRRRRRRRRR1");
  await plant(root, "quarantine", "01RRRRRRRRRRR2", { quarantine: "spam\x1b[2J" });
  const all = await run(["release", "--all"], root);
  assert.equal(all.code, 0);
  assert.equal(all.out, "01RRRRRRRRRRR1: released to incoming/ (was in hold/)\n");
  assert.deepEqual(await places(root), ["incoming/01RRRRRRRRRRR1", "quarantine/01RRRRRRRRRRR2"]);
  const named = await run(["release", "01RRRRRRRRRRR2"], root);
  assert.equal(named.out, "01RRRRRRRRRRR2: released to incoming/ (was in quarantine/); was quarantined as spam?[2J\n");
  const released = await envelopeIn(root, "incoming", "01RRRRRRRRRRR2");
  assert.equal(released.quarantine, undefined);
  assert.equal(released.recipients[0]!.address, "bob@example.net");
  const again = await run(["release", "01RRRRRRRRRRR2"], root);
  assert.equal(again.code, 1);
  assert.match(again.errors, /01RRRRRRRRRRR2: is in incoming\/; release takes messages in hold\/, quarantine\//);

  await plant(root, "quarantine", "01RRRRRRRRRRR3", { quarantine: "virus" });
  assert.equal((await run(["release", "--state", "quarantine"], root)).code, 0);
  assert.ok((await places(root)).includes("incoming/01RRRRRRRRRRR3"));
});

test("flush with no argument retries every deferred message now, and only those; named ones must be deferred", async (t) => {
  const root = await spoolAt(t);
  await plant(root, "deferred", "01FFFFFFFFFFF1", deferredOnce);
  await plant(root, "deferred", "01FFFFFFFFFFF2");
  await plant(root, "hold", "01FFFFFFFFFFF3");
  await plant(root, "incoming", "01FFFFFFFFFFF4");
  const before = await readFile(join(root, "deferred", "01FFFFFFFFFFF1"));
  const { code, out } = await run(["flush"], root);
  assert.equal(code, 0);
  assert.equal(out, "01FFFFFFFFFFF1: flushed to incoming/ (was in deferred/)\n01FFFFFFFFFFF2: flushed to incoming/ (was in deferred/)\n");
  assert.deepEqual(
    await envelopeIn(root, "incoming", "01FFFFFFFFFFF1"),
    { ...JSON.parse(before.toString()), retryAskedAt: new Date(now).toISOString() },
    "the schedule is kept; the time of the flush goes in, so a destination paused before it is tried",
  );
  const held = await run(["flush", "01FFFFFFFFFFF3", "01FFFFFFFFFFF4"], root);
  assert.equal(held.code, 1);
  assert.equal(held.out, "01FFFFFFFFFFF4: already in incoming/\n");
  assert.equal(held.errors, "petrel queue flush: 01FFFFFFFFFFF3: is in hold/; flush takes messages in deferred/\n");
  assert.equal((await run(["flush"], root)).out, "No message to flush\n");
});

test("requeue puts a message back as never tried: runs, next attempt and pending attempt counts go, outcomes stay", async (t) => {
  const root = await spoolAt(t);
  const planted = await plant(root, "deferred", "01QQQQQQQQQQQ1", deferredOnce);
  const { schedule: _, ...unscheduled } = planted;
  await plant(root, "hold", "01QQQQQQQQQQQ5", { ...unscheduled, id: "01QQQQQQQQQQQ5", schedule: { runs: 4, nextAttemptAt: isoAt(minutes(90)) } });
  const { code, out } = await run(["requeue", "01QQQQQQQQQQQ1", "01QQQQQQQQQQQ5"], root);
  assert.equal(code, 0);
  assert.equal(
    out,
    "01QQQQQQQQQQQ1: requeued to incoming/ (was in deferred/); schedule reset\n01QQQQQQQQQQQ5: requeued to incoming/ (was in hold/); schedule reset\n",
  );
  assert.deepEqual(await places(root), ["incoming/01QQQQQQQQQQQ1", "incoming/01QQQQQQQQQQQ5"]);
  const [bob, carol, dave] = planted.recipients;
  const { attempts: __, ...carolAnew } = carol!;
  const warned = { runs: 0, nextAttemptAt: new Date(now).toISOString(), delayWarnedAt: planted.schedule!.delayWarnedAt };
  assert.deepEqual(
    await envelopeIn(root, "incoming", "01QQQQQQQQQQQ1"),
    { ...unscheduled, schedule: warned, recipients: [bob, carolAnew, dave], retryAskedAt: new Date(now).toISOString() },
    "the time of the delay warning stays, so the sender is not warned twice",
  );
  const never = await envelopeIn(root, "incoming", "01QQQQQQQQQQQ5");
  assert.deepEqual(never, { ...unscheduled, id: "01QQQQQQQQQQQ5", recipients: [bob, carolAnew, dave], retryAskedAt: new Date(now).toISOString() });
  assert.equal(never.receivedAt, planted.receivedAt, "the arrival time, and the lifetime counted from it, stay");
});

test("requeue takes a message back from corrupt/ only when it reads as complete now", async (t) => {
  const root = await spoolAt(t);
  await plant(root, "corrupt", "01QQQQQQQQQQQ2");
  await plant(root, "corrupt", "01QQQQQQQQQQQ3");
  await writeFile(join(root, "body", "01QQQQQQQQQQQ3"), "Subject: cut\r\n");
  await writeFile(join(root, "corrupt", "01QQQQQQQQQQQ2.1"), (await readFile(join(root, "corrupt", "01QQQQQQQQQQQ2"))));
  await writeFile(join(root, "corrupt", "01QQQQQQQQQQQ4"), "{");
  const { code, out, errors } = await run(["requeue", "01QQQQQQQQQQQ2", "01QQQQQQQQQQQ3", "01QQQQQQQQQQQ2.1", "01QQQQQQQQQQQ4"], root);
  assert.equal(code, 1);
  assert.equal(out, "01QQQQQQQQQQQ2: requeued to incoming/ (was in corrupt/); never tried yet\n");
  assert.equal(
    errors,
    [
      "petrel queue requeue: 01QQQQQQQQQQQ3: its body file has 14 bytes, the envelope says 34; only remove takes it",
      "petrel queue requeue: 01QQQQQQQQQQQ2.1: it is a second copy of a queue id that recovery set aside; only remove takes it",
      "petrel queue requeue: 01QQQQQQQQQQQ4: its envelope cannot be read (message 01QQQQQQQQQQQ4 in corrupt/ cannot be read: not complete JSON (1 bytes)); only remove takes it",
      "",
    ].join("\n"),
  );
  assert.deepEqual(await places(root), ["corrupt/01QQQQQQQQQQQ2.1", "corrupt/01QQQQQQQQQQQ3", "corrupt/01QQQQQQQQQQQ4", "incoming/01QQQQQQQQQQQ2"]);
});

test("bounce fails every pending recipient now with 5.0.0, not reported yet, and moves the message to incoming/", async (t) => {
  const root = await spoolAt(t);
  const planted = await plant(root, "deferred", "01BBBBBBBBBBB1", deferredOnce);
  await plant(root, "hold", "01BBBBBBBBBBB2", { sender: "" });
  const { code, out } = await run(["bounce", "01BBBBBBBBBBB1", "01BBBBBBBBBBB2"], root);
  assert.equal(code, 0);
  assert.equal(
    out,
    "01BBBBBBBBBBB1: bounced (was in deferred/); 2 recipients failed, the DSN goes out at the next delivery run\n" +
      "01BBBBBBBBBBB2: bounced (was in hold/); 1 recipient failed, no DSN: the sender is null\n",
  );
  assert.deepEqual(await places(root), ["incoming/01BBBBBBBBBBB1", "incoming/01BBBBBBBBBBB2"]);
  const bounced = await envelopeIn(root, "incoming", "01BBBBBBBBBBB1");
  const last = { at: new Date(now).toISOString(), status: bounceStatus, diagnostic: bounceDiagnostic };
  const [bob, carol, dave] = planted.recipients;
  assert.deepEqual(bounced.recipients, [bob, { ...carol, status: "failed", last }, { ...dave, status: "failed", last }]);
  assert.deepEqual(bounced.schedule, planted.schedule);
  assert.equal(bounceStatus, "5.0.0");
});

test("bounce refuses a message with nothing pending and leaves it where it was; --all passes over such messages", async (t) => {
  const root = await spoolAt(t);
  await plant(root, "deferred", "01BBBBBBBBBBB3", { recipients: [{ address: "bob@example.net", status: "failed", reported: true }] });
  const before = await readFile(join(root, "deferred", "01BBBBBBBBBBB3"));
  const named = await run(["bounce", "01BBBBBBBBBBB3"], root);
  assert.equal(named.code, 1);
  assert.equal(named.errors, "petrel queue bounce: 01BBBBBBBBBBB3: has no pending recipient to return\n");
  assert.deepEqual(await readFile(join(root, "deferred", "01BBBBBBBBBBB3")), before);
  const all = await run(["bounce", "--all"], root);
  assert.equal(all.code, 0);
  assert.equal(all.out, "No message to bounce\n");
});

test("remove deletes from every state but active/, bodies too; a second copy in corrupt/ leaves the body its twin needs", async (t) => {
  const root = await spoolAt(t);
  const states = ["incoming", "deferred", "hold", "quarantine", "corrupt"] as const;
  for (const [n, state] of states.entries()) await plant(root, state, `01DDDDDDDDDDD${n}`);
  await plant(root, "deferred", "01DDDDDDDDDDD9");
  await writeFile(join(root, "corrupt", "01DDDDDDDDDDD9.1"), "{ damaged");
  const { code, out } = await run(["remove", ...states.map((_, n) => `01DDDDDDDDDDD${n}`), "01DDDDDDDDDDD9.1"], root);
  assert.equal(code, 0);
  assert.equal(out.split("\n").length, 7);
  assert.match(out, /^01DDDDDDDDDDD4: removed \(was in corrupt\/\)$/m);
  assert.match(out, /^01DDDDDDDDDDD9\.1: removed \(was in corrupt\/\)$/m);
  assert.deepEqual(await places(root), ["deferred/01DDDDDDDDDDD9"]);
  assert.deepEqual(await readdir(join(root, "body")), ["01DDDDDDDDDDD9"]);
  assert.equal((await run(["show", "01DDDDDDDDDDD9"], root)).code, 0, "the twin is whole");
});

test("a message in active/ is refused by every action and not changed at all", async (t) => {
  const root = await spoolAt(t);
  await plant(root, "active", "01AAAAAAAAAAA1", deferredOnce);
  const before = await readFile(join(root, "active", "01AAAAAAAAAAA1"));
  for (const action of ["hold", "release", "flush", "requeue", "bounce", "remove"]) {
    const { code, out, errors } = await run([action, "01AAAAAAAAAAA1"], root);
    assert.equal(code, 1, action);
    assert.equal(out, "");
    assert.equal(errors, `petrel queue ${action}: 01AAAAAAAAAAA1: is being delivered right now; try again in a moment\n`);
  }
  assert.deepEqual(await places(root), ["active/01AAAAAAAAAAA1"]);
  assert.deepEqual(await readFile(join(root, "active", "01AAAAAAAAAAA1")), before);
});

test("an unknown id is named and makes the exit code 1; the other messages are still acted on", async (t) => {
  const root = await spoolAt(t);
  await plant(root, "deferred", "01UUUUUUUUUUU1");
  const { code, out, errors } = await run(["hold", "01UUUUUUUUUUU9", "01UUUUUUUUUUU1", "../etc/passwd\x1b"], root);
  assert.equal(code, 1);
  assert.equal(out, "01UUUUUUUUUUU1: held (was in deferred/)\n");
  assert.equal(
    errors,
    "petrel queue hold: 01UUUUUUUUUUU9: no message with this id\npetrel queue hold: ../etc/passwd?: no message with this id\n",
  );
});

test("filters select what an action takes; a matching message in active/ is reported busy; --json lists each outcome", async (t) => {
  const root = await spoolAt(t);
  await plant(root, "deferred", "01SSSSSSSSSSS1", { recipients: ["a@example.net"] });
  await plant(root, "incoming", "01SSSSSSSSSSS2", { recipients: ["b@mx.example.net", "c@example.com"] });
  await plant(root, "deferred", "01SSSSSSSSSSS3", { recipients: ["d@example.com"] });
  await plant(root, "active", "01SSSSSSSSSSS4", { recipients: ["e@example.net"] });
  await plant(root, "deferred", "01SSSSSSSSSSS5", { recipients: [{ address: "f@example.net", status: "delivered" }, "g@example.org"] });
  const { code, out } = await run(["hold", "--domain", "example.net", "--json"], root);
  assert.equal(code, 1, "the busy one could not be held");
  assert.deepEqual(JSON.parse(out), [
    { id: "01SSSSSSSSSSS2", done: true, from: "incoming", to: "hold", message: "held (was in incoming/)" },
    { id: "01SSSSSSSSSSS4", done: false, from: "active", to: "active", message: "is being delivered right now; try again in a moment" },
    { id: "01SSSSSSSSSSS1", done: true, from: "deferred", to: "hold", message: "held (was in deferred/)" },
  ]);
  assert.deepEqual(await places(root), [
    "active/01SSSSSSSSSSS4",
    "deferred/01SSSSSSSSSSS3",
    "deferred/01SSSSSSSSSSS5",
    "hold/01SSSSSSSSSSS1",
    "hold/01SSSSSSSSSSS2",
  ]);
  const old = await run(["remove", "--older-than", "20m", "--sender", "alice@example.org", "--state", "deferred"], root, undefined);
  assert.equal(old.code, 0);
  assert.deepEqual(await places(root), ["active/01SSSSSSSSSSS4", "hold/01SSSSSSSSSSS1", "hold/01SSSSSSSSSSS2"]);
});

/** The node disk, except that before the command's first rename out of `deferred/<id>` the "scheduler" moves it to `to`. */
function schedulerMoves(root: string, id: string, to: State): SpoolDisk {
  let moved = false;
  return {
    ...nodeSpoolDisk,
    async rename(from, target) {
      if (!moved && from === join(root, "deferred", id)) {
        moved = true;
        await nodeSpoolDisk.rename(from, join(root, to, id));
      }
      await nodeSpoolDisk.rename(from, target);
    },
  };
}

test("race: the scheduler moving a message deferred → incoming during bounce: looked for again, bounced once", async (t) => {
  const root = await spoolAt(t);
  await plant(root, "deferred", "01MMMMMMMMMMM1", deferredOnce);
  const { code, out } = await run(["bounce", "01MMMMMMMMMMM1"], root, schedulerMoves(root, "01MMMMMMMMMMM1", "incoming"));
  assert.equal(code, 0);
  assert.equal(out, "01MMMMMMMMMMM1: bounced (was in incoming/); 2 recipients failed, the DSN goes out at the next delivery run\n");
  assert.deepEqual(await places(root), ["incoming/01MMMMMMMMMMM1"]);
  const bounced = await envelopeIn(root, "incoming", "01MMMMMMMMMMM1");
  assert.deepEqual(bounced.recipients.map((recipient) => recipient.status), ["delivered", "failed", "failed"]);
  assert.deepEqual(await readdir(join(root, "tmp")), [], "no rewrite left behind");
});

test("race: the scheduler taking a message into active/ during requeue or hold: refused, envelope untouched", async (t) => {
  const root = await spoolAt(t);
  for (const action of ["requeue", "hold"]) {
    const planted = await plant(root, "deferred", "01MMMMMMMMMMM2", deferredOnce);
    const { code, errors } = await run([action, "01MMMMMMMMMMM2"], root, schedulerMoves(root, "01MMMMMMMMMMM2", "active"));
    assert.equal(code, 1);
    assert.equal(errors, `petrel queue ${action}: 01MMMMMMMMMMM2: is being delivered right now; try again in a moment\n`);
    assert.deepEqual(await places(root), ["active/01MMMMMMMMMMM2"]);
    assert.deepEqual(await envelopeIn(root, "active", "01MMMMMMMMMMM2"), planted);
    await nodeSpoolDisk.remove(join(root, "active", "01MMMMMMMMMMM2"));
  }
});
