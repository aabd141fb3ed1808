// Reloading rules: SIGHUP and `petrel rules reload` bring new rules to new sessions while sessions in flight
// keep theirs; a rule file that fails to load leaves the old rules in place and says why; reloading again and
// again while smtp-source sends mail loses no message.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Petrel, runPetrel } from "./support/petrel-process.ts";
import { RawClient } from "./support/smtp-client.ts";

const run = promisify(execFile);

let petrel: Petrel;
let rules: string;

function ruleFile(version: string): string {
  return `import { defineRules } from "petrel/rules";
export default defineRules({
  rcpt: [
    function blocked(ctx) {
      if (ctx.rcpt.local === "blocked") return ctx.reject(550, "5.7.1", "blocked by rules ${version}");
    },
  ],
});
`;
}

before(async () => {
  const dir = await mkdtemp(join(tmpdir(), "petrel-reload-"));
  rules = join(dir, "rules.ts");
  await writeFile(rules, ruleFile("v1"));
  petrel = await Petrel.start({ dir, workers: 2, toml: `[rules]\nfiles = ["${rules}"]` });
});
after(() => petrel.remove());

async function refusalText(client: RawClient): Promise<string> {
  assert.equal((await client.command("MAIL FROM:<a@example.org>"))?.code, 250);
  const text = (await client.command("RCPT TO:<blocked@localhost>"))?.text ?? "";
  assert.equal((await client.command("RSET"))?.code, 250);
  return text;
}

async function reloaded(count: number): Promise<void> {
  await petrel.waitForCount((line) => line.msg === "configuration reloaded" || line.msg === "configuration not reloaded: no SMTP worker could apply it; keeping the current one", count);
}

test("SIGHUP: new sessions get the new rules, a session in flight keeps the ones it started with", async () => {
  const inFlight = await RawClient.greeted(petrel.port, { ehlo: "early.example" });
  assert.equal(await refusalText(inFlight), "550 5.7.1 blocked by rules v1");
  await writeFile(rules, ruleFile("v2"));
  petrel.process.kill("SIGHUP");
  await reloaded(1);
  const fresh = await RawClient.greeted(petrel.port, { ehlo: "late.example" });
  assert.equal(await refusalText(fresh), "550 5.7.1 blocked by rules v2");
  assert.equal(await refusalText(inFlight), "550 5.7.1 blocked by rules v1");
  inFlight.close();
  fresh.close();
});

test("a rule file that fails to load: the old rules stay and the log says which file and why", async () => {
  await writeFile(rules, "export default defineRules({ rcpt: [ function broken(ctx) { return ctx.reject( } ] });\n");
  petrel.process.kill("SIGHUP");
  await reloaded(2);
  const failure = await petrel.waitFor((line) => line.msg === "configuration not reloaded: no SMTP worker could apply it; keeping the current one");
  assert.match(String(failure["failures"]), new RegExp(`${rules}: cannot load`));
  const client = await RawClient.greeted(petrel.port, { ehlo: "after.example" });
  assert.equal(await refusalText(client), "550 5.7.1 blocked by rules v2", "still the rules that loaded last");
  client.close();
});

test("petrel rules reload: a broken file is reported and never reaches the server; a good one is taken", async () => {
  const broken = await runPetrel(["rules", "reload", "--config", petrel.configPath]);
  assert.equal(broken.code, 1);
  assert.match(broken.stderr, /not reloaded: .*rules\.ts: cannot load/);
  await writeFile(rules, ruleFile("v3"));
  const good = await runPetrel(["rules", "reload", "--config", petrel.configPath]);
  assert.equal(good.code, 0, good.stderr);
  assert.match(good.stdout, new RegExp(`pid ${petrel.process.pid}`));
  await reloaded(3);
  const client = await RawClient.greeted(petrel.port, { ehlo: "cli.example" });
  assert.equal(await refusalText(client), "550 5.7.1 blocked by rules v3");
  client.close();
});

test("reloading five times while smtp-source sends 300 messages loses none", async () => {
  const before = (await readdir(join(petrel.spool, "incoming"))).length;
  const sending = run("smtp-source", ["-c", "-s", "4", "-m", "300", "-f", "load@example.org", "-t", "postmaster@localhost", `127.0.0.1:${petrel.port}`]);
  for (let round = 0; round < 5; round++) {
    await writeFile(rules, ruleFile(`load-${round}`));
    petrel.process.kill("SIGHUP");
    await reloaded(4 + round);
  }
  await sending;
  const queued = await petrel.waitForCount((line) => line["event"] === "queued" && line["sender"] === "load@example.org", 300);
  assert.ok(queued);
  assert.equal((await readdir(join(petrel.spool, "incoming"))).length - before, 300);
});
