// Started as root with server.user: the workers bind a port below 1024, then run as that user, and mail
// still gets spooled (the primary handed the spool over). Started as an unprivileged user with only the
// CAP_NET_BIND_SERVICE capability (setpriv, as systemd's AmbientCapabilities= does): the same without root.
// CI runs as root; elsewhere the tests are skipped.

import { test } from "node:test";
import assert from "node:assert/strict";
import { chmod, chown, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
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
const run = promisify(execFile);

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

/** Whether bit `capability` is set in a /proc status line such as "CapEff:\t0000000000000400". */
function hasCapability(status: string, field: string, capability: number): boolean {
  const mask = new RegExp(`^${field}:\\s+([0-9a-f]+)$`, "m").exec(status)?.[1];
  assert.ok(mask, `${field} in /proc status`);
  return (BigInt(`0x${mask}`) & (1n << BigInt(capability))) !== 0n;
}

const CAP_NET_BIND_SERVICE = 10;

test("as nobody with only CAP_NET_BIND_SERVICE: port below 1024, no root anywhere, mail is spooled", { skip: root ? false : "needs root to hand out the capability" }, async () => {
  const dir = await mkdtemp(join(tmpdir(), "petrel-test-"));
  await chmod(dir, 0o755);
  await chown(dir, 65534, 65534);
  const launcher = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--inh-caps=+net_bind_service", "--ambient-caps=+net_bind_service"];
  const petrel = await Petrel.start({ dir, port: await privilegedPort(), workers: 2, launcher });
  try {
    const client = await RawClient.greeted(petrel.port, { ehlo: "client.example" });
    const id = queueIdOf(await client.sendMail("a@example.org", ["postmaster@localhost"], "Subject: capability\r\n\r\nx\r\n"));
    client.close();
    assert.equal((await stat(join(petrel.spool, "body", id))).uid, 65534);
    await petrel.waitFor((line) => line["queueId"] === id);
    const pids = new Set(petrel.lines.map((line) => line["pid"] as number));
    assert.ok(pids.size >= 2, "the primary and at least one worker logged");
    for (const pid of pids) {
      const status = await readFile(`/proc/${pid}/status`, "utf8");
      assert.match(status, /^Uid:\s+65534\s+65534\s+65534\s+65534$/m, `process ${pid} runs as nobody`);
      assert.ok(hasCapability(status, "CapEff", CAP_NET_BIND_SERVICE), `process ${pid} holds CAP_NET_BIND_SERVICE`);
      assert.ok(!hasCapability(status, "CapEff", 0), `process ${pid} has no CAP_CHOWN: it is not root in disguise`);
    }
  } finally {
    await petrel.remove();
  }
});

test("as nobody without the capability: a port below 1024 cannot be bound; Petrel says what it needs and exits 1", { skip: root ? false : "needs root to switch to nobody" }, async () => {
  const dir = await mkdtemp(join(tmpdir(), "petrel-test-"));
  await chmod(dir, 0o755);
  await chown(dir, 65534, 65534);
  const config = join(dir, "petrel.toml");
  await writeFile(config, `[[listener]]\naddress = "127.0.0.1"\nport = ${await privilegedPort()}\nrole = "mta"\n`);
  const main = new URL("../src/cli/main.ts", import.meta.url).pathname;
  const setpriv = ["--reuid=nobody", "--regid=nogroup", "--clear-groups", process.execPath, main, "serve", "--config", config];
  const failure = await run("setpriv", setpriv).then(
    () => assert.fail("petrel started"),
    (error: { code: number; stdout: string }) => error,
  );
  assert.equal(failure.code, 1);
  assert.match(failure.stdout, /EACCES: permission denied .*CAP_NET_BIND_SERVICE/);
  await rm(dir, { recursive: true, force: true });
});
