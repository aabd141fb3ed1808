// `petrel queue` against a running Petrel: mail the server accepted (kept in quarantine/ by a preq rule, where no
// scheduler touches it) and messages planted straight into deferred/ and active/ (due in a day, or "being
// delivered"), then every command through the real command line while the server runs. Checks stay with states
// no scheduler moves out of (hold/, quarantine/, active/) or with the command's own report, so a scheduler
// delivering what was released or flushed cannot make them flaky. Last, root acting on a spool owned by another
// user writes its files as that user.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chmod, chown, mkdtemp, readdir, rm, stat, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { plant } from "../src/cli/queue-fixtures.ts";
import { Spool } from "../src/queue/spool.ts";
import { Petrel, runPetrel } from "./support/petrel-process.ts";
import { queueIdOf, RawClient } from "./support/smtp-client.ts";

const RULES = new URL("./fixtures/rules/preq.ts", import.meta.url).pathname;

let petrel: Petrel;

before(async () => {
  petrel = await Petrel.start({ toml: `[rules]\nfiles = ["${RULES}"]` });
});
after(() => petrel.remove());

/** Sends one message the preq rule quarantines as "held"; returns its queue id. */
async function sendQuarantined(): Promise<string> {
  const client = await RawClient.greeted(petrel.port, { ehlo: "client.example" });
  const id = queueIdOf(await client.sendMail("sender@example.org", ["postmaster@localhost"], "Subject: quarantine\r\n\r\nx\r\n"));
  client.close();
  return id;
}

async function namesIn(state: string): Promise<string[]> {
  return readdir(join(petrel.spool, state));
}

/** Recent mail, due again only in a day: a scheduler leaves it in deferred/ for the length of the test. */
function deferredFor(...recipients: string[]) {
  const now = Date.now();
  return {
    receivedAt: new Date(now - 60_000).toISOString(),
    recipients,
    schedule: { runs: 1, nextAttemptAt: new Date(now + 86_400_000).toISOString() },
  };
}

test("mail the server accepted is listed, shaped, shown, released and removed while the server runs", async () => {
  const [first, second] = [await sendQuarantined(), await sendQuarantined()];
  const listed = await petrel.queue("list", "--state", "quarantine");
  assert.equal(listed.code, 0);
  for (const id of [first, second]) {
    assert.match(listed.stdout, new RegExp(`^${id}  quarantine:held +\\d+s +\\d+  <sender@example\\.org>  postmaster@localhost$`, "m"));
  }
  const json = JSON.parse((await petrel.queue("list", "--state", "quarantine", "--sender", "@example.org", "--json")).stdout);
  assert.deepEqual(json.map((entry: { id: string }) => entry.id).sort(), [first, second].sort());
  const shape = JSON.parse((await petrel.queue("shape", "--state", "quarantine", "--json")).stdout);
  assert.deepEqual(shape.domains, [{ domain: "localhost", total: 2, buckets: [2, 0, 0, 0, 0, 0, 0, 0, 0, 0] }]);
  assert.match((await petrel.queue("shape", "--state", "quarantine")).stdout, /^ *TOTAL {2}2 {2}2 +0/m);
  const shown = await petrel.queue("show", first);
  assert.match(shown.stdout, /^state: +quarantine\nquarantine: +held$/m);
  assert.match(shown.stdout, /^recipients: +postmaster@localhost \(pending\)$/m);

  const released = await petrel.queue("release", first);
  assert.deepEqual(released, { code: 0, stdout: `${first}: released to incoming/ (was in quarantine/); was quarantined as held\n`, stderr: "" });
  const removed = await petrel.queue("remove", second);
  assert.deepEqual(removed, { code: 0, stdout: `${second}: removed (was in quarantine/)\n`, stderr: "" });
  assert.deepEqual(await namesIn("quarantine"), []);
  assert.ok(!(await namesIn("body")).includes(second), "the body went with it");
});

test("hold, requeue, bounce and flush act on mail in the queue while the server runs", async () => {
  await plant(petrel.spool, "deferred", "01PPPPPPPPPPP1", deferredFor("a@example.net"));
  await plant(petrel.spool, "deferred", "01PPPPPPPPPPP2", deferredFor("b@mx.example.net", "c@example.com"));
  await plant(petrel.spool, "deferred", "01PPPPPPPPPPP3", deferredFor("d@example.com"));

  const held = await petrel.queue("hold", "--domain", "example.net");
  assert.deepEqual(held, {
    code: 0,
    stdout: "01PPPPPPPPPPP1: held (was in deferred/)\n01PPPPPPPPPPP2: held (was in deferred/)\n",
    stderr: "",
  });
  assert.deepEqual(await namesIn("hold"), ["01PPPPPPPPPPP1", "01PPPPPPPPPPP2"]);
  const list = JSON.parse((await petrel.queue("list", "--state", "hold", "--json")).stdout);
  assert.deepEqual(list.map((entry: { id: string }) => entry.id), ["01PPPPPPPPPPP1", "01PPPPPPPPPPP2"]);
  const shown = await petrel.queue("show", "01PPPPPPPPPPP1");
  assert.match(shown.stdout, /^schedule: +1 run, next attempt \S+ \(in 23h\)$/m);

  const requeued = await petrel.queue("requeue", "01PPPPPPPPPPP1");
  assert.deepEqual(requeued, { code: 0, stdout: "01PPPPPPPPPPP1: requeued to incoming/ (was in hold/); schedule reset\n", stderr: "" });
  const bounced = await petrel.queue("bounce", "01PPPPPPPPPPP2", "--json");
  assert.equal(bounced.code, 0);
  assert.deepEqual(JSON.parse(bounced.stdout), [
    {
      id: "01PPPPPPPPPPP2",
      done: true,
      from: "hold",
      to: "incoming",
      message: "bounced (was in hold/); 2 recipients failed, the DSN goes out at the next delivery run",
    },
  ]);
  const flushed = await petrel.queue("flush");
  assert.deepEqual(flushed, { code: 0, stdout: "01PPPPPPPPPPP3: flushed to incoming/ (was in deferred/)\n", stderr: "" });
  assert.deepEqual(await namesIn("hold"), []);
  assert.ok(!(await namesIn("deferred")).some((id) => id.startsWith("01PPPPPPPPPPP")));
});

test("a message being delivered is refused whole; an unknown id and usage mistakes give their exit codes", async () => {
  await plant(petrel.spool, "active", "01PPPPPPPPPPP9", deferredFor("z@example.net"));
  try {
    for (const action of ["hold", "bounce", "remove"]) {
      const refused = await petrel.queue(action, "01PPPPPPPPPPP9");
      assert.equal(refused.code, 1);
      assert.equal(refused.stderr, `petrel queue ${action}: 01PPPPPPPPPPP9: is being delivered right now; try again in a moment\n`);
    }
    const shown = JSON.parse((await petrel.queue("show", "01PPPPPPPPPPP9", "--json")).stdout);
    assert.equal(shown.state, "active");
    assert.deepEqual(shown.envelope.recipients, [{ address: "z@example.net", status: "pending" }], "nothing half-changed");
  } finally {
    await unlink(join(petrel.spool, "active", "01PPPPPPPPPPP9"));
    await unlink(join(petrel.spool, "body", "01PPPPPPPPPPP9"));
  }
  const unknown = await petrel.queue("hold", "01PPPPPPPPPPPZ");
  assert.deepEqual(unknown, { code: 1, stdout: "", stderr: "petrel queue hold: 01PPPPPPPPPPPZ: no message with this id\n" });
  assert.equal((await petrel.queue("show", "01PPPPPPPPPPPZ")).code, 1);
  const usage = await petrel.queue("list", "--older-than", "ages");
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /^petrel queue: --older-than takes an age with a unit: 90s, 30m, 2h, 5d, 1w\nusage: petrel queue list/);
});

const root = process.getuid?.() === 0;

test("as root on a spool that belongs to another user, petrel queue writes its files as that user", { skip: root ? false : "needs root (CI runs as root)" }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "petrel-queue-owner-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await chmod(dir, 0o755); // the spool's owner must reach it, as under /var/spool
  const spoolDir = join(dir, "spool");
  await Spool.open(spoolDir);
  await plant(spoolDir, "hold", "01OOOOOOOOOOO1", deferredFor("a@example.net"));
  const run = promisify(execFile);
  const uid = Number((await run("id", ["-u", "nobody"])).stdout.trim());
  const gid = Number((await run("id", ["-g", "nobody"])).stdout.trim());
  for (const name of ["", "tmp", "body", "body/01OOOOOOOOOOO1", "incoming", "active", "deferred", "hold", "hold/01OOOOOOOOOOO1", "quarantine", "corrupt"]) {
    await chown(join(spoolDir, name), uid, gid);
  }
  await writeFile(join(dir, "petrel.toml"), `[spool]\ndir = "${spoolDir}"\n`);
  const requeued = await runPetrel(["queue", "requeue", "01OOOOOOOOOOO1", "--config", join(dir, "petrel.toml")]);
  assert.equal(requeued.stderr, "");
  assert.equal(requeued.code, 0);
  const envelope = await stat(join(spoolDir, "incoming", "01OOOOOOOOOOO1"));
  assert.deepEqual([envelope.uid, envelope.gid], [uid, gid], "the rewritten envelope belongs to the spool's owner, not root");
});
