// Started as root with server.user: the workers bind a port below 1024, then run as that user, and mail
// still gets spooled (the primary handed the spool over). CI runs as root; elsewhere the test is skipped.

import { test } from "node:test";
import assert from "node:assert/strict";
import { chmod, mkdtemp, readFile, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { createServer } from "node:net";
import { join } from "node:path";
import { Petrel } from "./support/petrel-process.ts";
import { RawClient, queueIdOf } from "./support/smtp-client.ts";

/** A free port below 1024 on loopback (binding it needs root, which this test has). */
async function privilegedPort(): Promise<number> {
  for (let port = 990; port > 900; port--) {
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once("error", () => resolve(false));
      server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error("no free port between 900 and 990");
}

const root = process.getuid?.() === 0;

test("as root with server.user = nobody: port below 1024, workers run as nobody, mail is spooled", { skip: root ? false : "needs root (CI runs as root)" }, async () => {
  // The test's own folder must be open to nobody, as /var/spool is in a real installation.
  const dir = await mkdtemp(join(tmpdir(), "petrel-test-"));
  await chmod(dir, 0o755);
  const petrel = await Petrel.start({ dir, port: await privilegedPort(), workers: 2, server: 'user = "nobody"\ngroup = "nogroup"' });
  try {
    const client = await RawClient.greeted(petrel.port, { ehlo: "client.example" });
    const id = queueIdOf(await client.sendMail("a@example.org", ["postmaster@localhost"], "Subject: low\r\n\r\nx\r\n"));
    client.close();
    assert.equal((await stat(join(petrel.spool, "body", id))).uid, 65534, "written by the unprivileged worker");
    await petrel.waitFor((line) => line["queueId"] === id); // log lines reach us a little after the reply
    const workers = new Set(petrel.lines.filter((line) => typeof line["worker"] === "number").map((line) => line["pid"] as number));
    assert.ok(workers.size >= 1);
    for (const pid of workers) {
      const status = await readFile(`/proc/${pid}/status`, "utf8");
      assert.match(status, /^Uid:\s+65534\s+65534\s+65534\s+65534$/m, `worker ${pid} runs as nobody`);
    }
    const primary = await readFile(`/proc/${petrel.process.pid}/status`, "utf8");
    assert.match(primary, /^Uid:\s+0\s/m, "the primary stays root to restart workers");
  } finally {
    await petrel.remove();
  }
});
