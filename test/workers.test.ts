// The primary keeps the workers running: a worker killed with SIGKILL is replaced and the service goes on;
// mail keeps being accepted meanwhile by the other worker.

import { test } from "node:test";
import assert from "node:assert/strict";
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
