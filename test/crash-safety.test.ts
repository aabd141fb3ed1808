// Crash safety of the spool through the real server: clients send a steady load, the whole server (primary
// and workers) is killed with SIGKILL in the middle of it, and a restart must find every message that got a
// "250 queued as ID", intact byte for byte. Whatever else the spool then holds must be a complete message a
// client really sent (a commit whose 250 never reached the client); no fragment may count as queued.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { Petrel } from "./support/petrel-process.ts";
import { RawClient } from "./support/smtp-client.ts";

const CLIENTS = 12;
const KILL_AFTER = 150;

/** A message whose token names it; sizes vary so that some bodies are still streaming at the kill. */
function message(token: string, index: number): Buffer {
  const lines = 20 + ((index * 7919) % 4000);
  const filler = randomBytes(lines * 38).toString("base64").replace(/(.{76})/g, "$1\r\n");
  return Buffer.from(`Subject: crash test\r\nX-Token: ${token}\r\n\r\n${filler}\r\n`);
}

test("every acknowledged message survives kill -9 of the whole server, and nothing partial is queued", async () => {
  const petrel = await Petrel.start({ workers: 2, detached: true });
  const sent = new Map<string, Buffer>();
  const acknowledged = new Map<string, string>(); // queue id -> token
  let count = 0;
  let killed = false;
  let resolveKill: () => void = () => {};
  const killPoint = new Promise<void>((resolve) => {
    resolveKill = resolve;
  });

  async function client(number: number): Promise<void> {
    const smtp = await RawClient.open(petrel.port);
    if ((await smtp.read())?.code !== 220) return;
    await smtp.command("EHLO crash.test");
    for (let index = 0; !killed; index++) {
      const token = `c${number}-m${index}`;
      const body = message(token, number * 1000 + index);
      sent.set(token, body);
      const replies = [
        await smtp.command("MAIL FROM:<load@crash.test>"),
        await smtp.command("RCPT TO:<postmaster@localhost>"),
        await smtp.command("DATA"),
      ];
      if (replies.some((reply) => reply === null)) return;
      smtp.write(Buffer.concat([body, Buffer.from(".\r\n")]));
      const final = await smtp.read();
      if (final === null) return;
      assert.equal(final.code, 250, final.text);
      acknowledged.set(/queued as (\S+)/.exec(final.text)![1]!, token);
      count += 1;
      if (count === KILL_AFTER) resolveKill();
    }
  }

  const clients = Array.from({ length: CLIENTS }, (_, number) => client(number));
  await killPoint;
  killed = true;
  process.kill(-petrel.process.pid!, "SIGKILL");
  await Promise.all(clients);
  assert.ok(acknowledged.size >= KILL_AFTER);

  const restarted = await Petrel.start({ dir: petrel.dir, workers: 1 });
  try {
    const recovered = await restarted.waitForMessage("spool recovered");
    assert.deepEqual(recovered["movedToCorrupt"], [], "no complete message may be judged damaged");

    const queued = new Set(await readdir(join(restarted.spool, "incoming")));
    for (const [id, token] of acknowledged) {
      assert.ok(queued.has(id), `acknowledged message ${id} (${token}) is missing after the crash`);
    }
    for (const id of queued) {
      const envelope = JSON.parse(await readFile(join(restarted.spool, "incoming", id), "utf8"));
      const body = await readFile(join(restarted.spool, "body", id));
      assert.equal(body.length, envelope.size, `${id}: body size differs from its envelope`);
      const token = /X-Token: (\S+)\r\n/.exec(body.toString("latin1"))?.[1];
      assert.ok(token && sent.has(token), `${id}: queued message is not one a client sent`);
      const start = body.indexOf("Subject: crash test");
      assert.ok(body.subarray(start).equals(sent.get(token)!), `${id}: body differs from what was sent`);
    }
    const bodies = await readdir(join(restarted.spool, "body"));
    assert.deepEqual(bodies.sort(), [...queued].sort(), "every body has its envelope and no fragment is left");
  } finally {
    await restarted.remove();
  }
});
