// The primary keeps the workers running: a worker killed with SIGKILL is replaced and the service goes on;
// mail keeps being accepted meanwhile by the other worker. What a killed worker was receiving is removed before
// its replacement starts; what it had queued stays.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout } from "node:timers/promises";
import { Petrel } from "./support/petrel-process.ts";
import { RawClient, queueIdOf } from "./support/smtp-client.ts";

async function sendOne(petrel: Petrel, n: number): Promise<string> {
  const client = await RawClient.greeted(petrel.port, { ehlo: "workers.test" });
  const id = queueIdOf(await client.sendMail(`w${n}@example.org`, ["postmaster@localhost"], `Subject: ${n}\r\n\r\nx\r\n`));
  client.close();
  return id;
}

test("a worker killed with SIGKILL is restarted, and mail is accepted before, during and after", async () => {
  const petrel = await Petrel.start({ workers: 2 });
  try {
    const ids = [];
    for (let n = 0; n < 20; n++) ids.push(await sendOne(petrel, n));
    const victim = await petrel.waitFor((line) => line["worker"] === 1 && typeof line["pid"] === "number");
    process.kill(victim["pid"] as number, "SIGKILL");
    await petrel.waitForMessage("worker died; restarting it");
    for (let n = 20; n < 30; n++) ids.push(await sendOne(petrel, n));
    const restarted = await petrel.waitForMessage("worker restarted");
    assert.equal(restarted["worker"], 1);
    for (let n = 30; n < 60; n++) ids.push(await sendOne(petrel, n));
    assert.equal(new Set(ids).size, 60);
    // the new worker 1 queues mail too (waits for its line; log lines come a little after the replies)
    await petrel.waitFor((line) => line["event"] === "queued" && line["worker"] === 1 && line["pid"] !== victim["pid"]);
  } finally {
    await petrel.remove();
  }
});

/** Resolves with the names in `folder` once `found` holds for them (looking every few milliseconds). */
async function untilFolder(folder: string, found: (names: string[]) => boolean): Promise<string[]> {
  for (;;) {
    const names = await readdir(folder);
    if (found(names)) return names;
    await setTimeout(5);
  }
}

test("a worker killed while it receives a large message: the body it was writing goes before the restart, queued mail stays", async () => {
  const petrel = await Petrel.start({ workers: 1 });
  try {
    const queued = await sendOne(petrel, 0);
    const bodies = join(petrel.spool, "body");
    const client = await RawClient.greeted(petrel.port, { ehlo: "workers.test" });
    await client.batch(["MAIL FROM:<big@example.org>", "RCPT TO:<postmaster@localhost>", "DATA"]);
    // More than the 64 KiB a message may take in memory: the worker streams it into body/<id>.
    client.write(`Subject: big\r\n\r\n${`${"x".repeat(998)}\r\n`.repeat(200)}`);
    const [streaming] = (await untilFolder(bodies, (names) => names.some((name) => name !== queued))).filter((name) => name !== queued);
    const victim = await petrel.waitFor((line) => line["worker"] === 0 && typeof line["pid"] === "number");
    process.kill(victim["pid"] as number, "SIGKILL");
    const cleaned = await petrel.waitForMessage("removed what the dead worker was receiving");
    assert.deepEqual(cleaned["removed"], [`body/${streaming}`]);
    await petrel.waitForMessage("worker restarted");
    assert.deepEqual(await readdir(bodies), [queued], "the queued message's body stays");
    assert.ok(((await stat(join(bodies, queued))).mode & 0o100) !== 0, "a queued body carries the committed mark");
    assert.notEqual(await sendOne(petrel, 1), queued, "the new worker takes mail");
  } finally {
    await petrel.remove();
  }
});

