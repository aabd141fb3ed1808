// A full spool, end to end: the spool folder on a 1 MiB tmpfs of its own. A message that does not fit is refused
// with 452 4.3.1 (try later) and leaves nothing behind; the mail log says so with its queue id, the system log
// has the error; a message that fits is queued at once after it. Mounting needs root: skipped otherwise.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { Petrel } from "./support/petrel-process.ts";
import { RawClient } from "./support/smtp-client.ts";

const run = promisify(execFile);
const skip = process.getuid?.() !== 0 ? "mounting a tmpfs needs root" : false;

test("a full spool: 452 4.3.1, nothing left behind, the mail log says why; a message that fits is queued after it", { skip }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "petrel-spool-full-"));
  const spool = join(dir, "spool");
  await mkdir(spool);
  await run("mount", ["-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", spool]);
  let petrel: Petrel | undefined;
  t.after(async () => {
    await petrel?.stop();
    await run("umount", [spool]).catch(() => {});
    await rm(dir, { recursive: true, force: true });
  });
  petrel = await Petrel.start({ dir });

  const client = await RawClient.greeted(petrel.port, { ehlo: "full.test" });
  const big = `Subject: big\r\n\r\n${`${"y".repeat(998)}\r\n`.repeat(2000)}`; // 2 MB: twice the spool
  const refused = await client.sendMail("big@example.org", ["postmaster@localhost"], big);
  assert.equal(refused?.code, 452, refused?.text);
  assert.match(refused?.text ?? "", /^452 4\.3\.1 /);
  const line = await petrel.waitFor((entry) => entry["event"] === "refused" && entry["reason"] === "spool-full");
  assert.equal(line.msg, "message not queued");
  assert.match(String(line["queueId"]), /^[0-9A-Z]{14}$/);
  const problem = await petrel.waitForMessage("spool commit failed");
  assert.equal(problem["log"], "system");
  assert.match(JSON.stringify(problem["err"]), /the spool is full \(ENOSPC\)/);
  for (const folder of ["body", "tmp", "incoming"]) assert.deepEqual(await readdir(join(spool, folder)), [], `${folder}/ is empty`);

  const small = await client.sendMail("small@example.org", ["postmaster@localhost"], "Subject: small\r\n\r\nfits\r\n");
  assert.equal(small?.code, 250, small?.text);
  client.close();
});
