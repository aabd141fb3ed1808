// `petrel rules check` and `petrel rules test` as an administrator runs them, on the fixtures' rule files and
// on broken ones written here: type errors with file:line:column, files the server would refuse, and one
// transaction run through the rules with every verdict and reply printed, then the stages after the queue.

import { before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runPetrel } from "./support/petrel-process.ts";

const VERDICTS = new URL("./fixtures/rules/verdicts.ts", import.meta.url).pathname;
const PREQ = new URL("./fixtures/rules/preq.ts", import.meta.url).pathname;
const QUEUE_STAGES = new URL("./fixtures/rules/queue-stages.ts", import.meta.url).pathname;
let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "petrel-rules-cli-"));
});

test("rules check: a good file is type-checked, loaded and its rules listed by stage", async () => {
  const result = await runPetrel(["rules", "check", VERDICTS]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /verdicts\.ts: types checked, loaded/);
  assert.match(result.stdout, /^ {2}connect {2}1\. byClientAddress$/m);
  assert.match(result.stdout, /^ {2}rcpt {5}1\. byRecipient$/m);
});

test("rules check: a type error is reported with file, line and column, and nothing is loaded", async () => {
  const file = join(dir, "typo.ts");
  await writeFile(
    file,
    'import { defineRules } from "petrel/rules";\nexport default defineRules({\n  rcpt: [\n    function typo(ctx) {\n      if (ctx.rcpt.adress === "x") return ctx.reject();\n    },\n  ],\n});\n',
  );
  const result = await runPetrel(["rules", "check", file]);
  assert.equal(result.code, 1);
  assert.match(result.stderr, new RegExp(`${file}:5:20: Property 'adress' does not exist`));
  assert.match(result.stderr, /1 type error/);
});

test("rules check: a file the server would refuse (an unnamed rule, an unknown stage) says why", async () => {
  const unnamed = join(dir, "unnamed.js");
  await writeFile(unnamed, 'import { defineRules } from "petrel/rules";\nexport default defineRules({ rcpt: [(ctx) => ctx.accept()] });\n');
  const result = await runPetrel(["rules", "check", unnamed]);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /unnamed\.js: rcpt\[0\] has no name/);
  const unknown = join(dir, "stage.js");
  await writeFile(unknown, "/** @type {Record<string, Function[]>} */\nexport default { data: [function x() {}] };\n");
  assert.match((await runPetrel(["rules", "check", unknown])).stderr, /unknown stage "data" \(stages: connect, helo, auth, mail, rcpt, preq, postq, delivery\)/);
});

test("rules check: a missing file, or one that is not a rule file, is named with the reason, before any type check", async () => {
  const notes = join(dir, "notes.md");
  await writeFile(notes, "# not a rule file\n");
  const missing = join(dir, "missing.ts");
  const result = await runPetrel(["rules", "check", missing, notes]);
  assert.equal(result.code, 1);
  assert.equal(
    result.stderr,
    `petrel rules check: ${missing}: no such file\npetrel rules check: ${notes}: not a rule file (.ts, .mts, .js or .mjs)\n`,
  );
});

test("rules test: one transaction through the rules; each verdict under the reply it led to; the queued result", async () => {
  const result = await runPetrel([
    "rules", "test", VERDICTS, "--from", "rewrite@petrel.test", "--to", "maildir@localhost", "--to", "reject@localhost", "--to", "friend@elsewhere.example",
  ]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /C: RCPT TO:<reject@localhost>\nS: 550 5\.1\.1 no such mailbox\n {5}rule rcpt\/byRecipient: reject\n/);
  assert.match(result.stdout, /C: RCPT TO:<friend@elsewhere\.example>\nS: 550 5\.7\.1 relay access denied\n {5}rules rcpt: no verdict \(next\): the built-in policy decides\n/);
  assert.match(result.stdout, /outcome: 2\.0\.0 queued as \w+/);
  assert.match(result.stdout, /sender: <rewritten@petrel\.test>/);
  assert.match(result.stdout, /recipient: <maildir@localhost> route \{"kind":"maildir","path":"\/var\/mail\/maildir"\}/);
});

test("rules test: --client decides at connect; a message file goes through preq and its edited headers are shown", async () => {
  const refused = await runPetrel(["rules", "test", VERDICTS, "--client", "127.0.0.2", "--from", "a@petrel.test", "--to", "b@localhost"]);
  assert.match(refused.stdout, /S: 554 5\.7\.1 you are not welcome here\n {5}rule connect\/byClientAddress: deny\n\noutcome: refused at connect/);
  const message = join(dir, "message.eml");
  await writeFile(message, "Subject: edit\nX-Old: 1\n\nbody\n.leading dot\n");
  const edited = await runPetrel(["rules", "test", PREQ, "--from", "a@example.org", "--to", "b@localhost", "--message", message]);
  assert.equal(edited.code, 0, edited.stderr);
  assert.match(edited.stdout, /headers:\n {4}Received: [\s\S]*\n {4}X-Added: by a rule\n {4}Subject: edited\n {4}X-New: 1\n {4}X-Bottom: last\n/);
});

test("rules test: the postq and delivery rules run on the queued message, and each copy's next hop is shown", async () => {
  const config = join(dir, "queue-stages.toml");
  await writeFile(config, '[smtp]\nlocal_domains = ["petrel.test"]\nrelay_networks = ["192.0.2.0/24"]\n[rules.settings]\nmbox_dir = "/var/mail/archive"\n');
  const to = ["postq-bcc@petrel.test", "del-reject@petrel.test", "del-route@petrel.test", "someone@elsewhere.example"].flatMap((address) => ["--to", address]);
  const result = await runPetrel(["rules", "test", QUEUE_STAGES, "--config", config, "--from", "a@petrel.test", ...to]);
  assert.equal(result.code, 0, result.stderr);
  const after = result.stdout.slice(result.stdout.indexOf("\nafter the queue"));
  assert.match(after, /^ {2}postq: deliver$/m);
  assert.match(after, /^ {2}delivery <postq-bcc@petrel\.test>: deliver to maildir:\S+\/var\/mail\/petrel\.test\/postq-bcc$/m);
  assert.match(after, /^ {2}delivery <del-reject@petrel\.test>: fails, a DSN goes to the sender: 550 5\.7\.1 no delivery to del-reject@petrel\.test\n {5}rule delivery\/byRecipient: reject$/m);
  assert.match(after, /^ {2}delivery <del-route@petrel\.test>: deliver to mbox:\/var\/mail\/archive\/del-route$/m);
  assert.match(after, /^ {2}delivery <archive@petrel\.test>: deliver to mbox:\/var\/mail\/archive\/archive$/m, "the copy the postq rule added");
  assert.match(after, /^ {2}delivery <someone@elsewhere\.example>: deliver to mx:elsewhere\.example$/m);
  assert.doesNotMatch(after, /nothing is delivered[\s\S]*after the queue/, "one message, one section");

  const held = await runPetrel(["rules", "test", QUEUE_STAGES, "--config", config, "--from", "a@petrel.test", "--to", "postq-tempfail@petrel.test"]);
  assert.match(held.stdout, /^ {2}postq: every recipient waits, postq runs again at the next try: 451 4\.7\.1 not now\n {5}rule postq\/byFirstRecipient: tempfail$/m);
  assert.doesNotMatch(held.stdout, /delivery </, "no delivery line after a postq verdict that holds the message");
});

test("rules test: a missing --to is a usage error", async () => {
  const result = await runPetrel(["rules", "test", VERDICTS, "--from", "a@petrel.test"]);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /--from and --to are required/);
});
