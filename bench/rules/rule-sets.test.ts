// Tests of the benchmark's rule sets (twenty-per-stage.ts, the default, and one-liners.ts): their shape (20 named
// rules per stage; one of them asynchronous in the default set, none in the other) and that they decide nothing
// for the benchmark's messages, so that every rule runs for every message. The second test sends one such message
// through each set the way an administrator would, with `petrel rules test`.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { test } from "node:test";
import oneLiners from "./one-liners.ts";
import twentyPerStage from "./twenty-per-stage.ts";

const STAGES = ["connect", "helo", "mail", "rcpt", "preq"] as const;
const CHECKOUT = resolve(import.meta.dirname, "../..");
const ruleSets = [
  { file: "twenty-per-stage.ts", ruleSet: twentyPerStage, asynchronousPerStage: 1 },
  { file: "one-liners.ts", ruleSet: oneLiners, asynchronousPerStage: 0 },
];

for (const { file, ruleSet, asynchronousPerStage } of ruleSets) {
test(`${file} has 20 uniquely named rules at each of connect, helo, mail, rcpt and preq, ${asynchronousPerStage} of them async`, () => {
  assert.deepEqual(Object.keys(ruleSet), [...STAGES]);
  for (const stage of STAGES) {
    const rules: readonly ((...args: never[]) => unknown)[] = ruleSet[stage];
    assert.equal(rules.length, 20, stage);
    const names = rules.map((rule) => rule.name);
    assert.equal(new Set(names).size, 20, `${stage}: ${names.join(", ")}`);
    for (const name of names) assert.match(name, /^[a-z][A-Za-z0-9]+$/, `${stage}: a rule named "${name}"`);
    const asynchronous = rules.filter((rule) => rule.constructor.name === "AsyncFunction").map((rule) => rule.name);
    assert.equal(asynchronous.length, asynchronousPerStage, `${stage}: asynchronous rules ${asynchronous.join(", ")}`);
  }
});

test(`${file}: a message as smtp-source sends it gets no verdict at any stage (every rule runs)`, async () => {
  const dir = await mkdtemp(join(tmpdir(), "petrel-bench-rules-"));
  try {
    const config = join(dir, "petrel.toml");
    await writeFile(config, '[smtp]\nlocal_domains = ["bench.test"]\n');
    const message = join(dir, "message.eml");
    await writeFile(
      message,
      "From: <sender@bench.test>\r\nTo: <recipient@bench.test>\r\nDate: Sun, 29 Nov 2026 02:02:26 +0000 (UTC)\r\n" +
        `Message-Id: <60c1.0003.0000@client.bench.test>\r\n\r\n${"X".repeat(78)}\r\n`,
    );
    const args = ["src/cli/main.ts", "rules", "test", resolve(import.meta.dirname, file), "--config", config, "--client", "127.0.0.1", "--helo", "client.bench.test"];
    args.push("--from", "sender@bench.test", "--to", "recipient@bench.test", "--message", message);
    const child = spawn(process.execPath, args, { cwd: CHECKOUT, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.setEncoding("utf8").on("data", (text: string) => (output += text));
    child.stderr.setEncoding("utf8").on("data", (text: string) => (output += text));
    const [code] = await once(child, "exit");
    assert.equal(code, 0, output);
    // Under each reply, `rules test` prints what the rules did: a verdict, a failure, or "no verdict (next)".
    const ruleLines = [...output.matchAll(/^ {5}(.*)$/gm)].map(([, line]) => line);
    assert.deepEqual(
      ruleLines,
      STAGES.map((stage) => `rules ${stage}: no verdict (next): the built-in policy decides`),
      output,
    );
    assert.match(output, /^outcome: 2\.0\.0 queued as /m, output);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
}
