// The rule stages after the queue, over the wire: a real Petrel takes mail by SMTP, answers 250, and its
// delivery process runs the postq rules (once per message) and the delivery rules (per recipient and attempt) of
// test/fixtures/rules/queue-stages.ts before delivering into local Maildirs and mboxes. Every verdict at both
// stages: what was delivered, what failed with a DSN to the sender, what waits, what went to quarantine/, and
// that a rule that breaks, hangs or edits headers after queueing makes the mail wait, never passes it.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Envelope } from "../src/queue/envelope.ts";
import { type LogLine, Petrel } from "./support/petrel-process.ts";
import { queueIdOf, RawClient } from "./support/smtp-client.ts";

const RULES = new URL("./fixtures/rules/queue-stages.ts", import.meta.url).pathname;
let petrel: Petrel;
let mboxes = "";

before(async () => {
  mboxes = await mkdtemp(join(tmpdir(), "petrel-mbox-"));
  petrel = await Petrel.start({
    toml: [
      `[smtp]\nlocal_domains = ["petrel.test"]`,
      `[rules]\nfiles = ["${RULES}"]\ntimeout = "1s"\nsettings = { mbox_dir = "${mboxes}" }`,
      // Deferred mail is not tried again during the test.
      `[delivery]\nretry_min = "1h"\nretry_max = "1h"`,
    ].join("\n"),
  });
});
after(() => petrel.remove());

async function send(recipients: readonly string[], subject: string): Promise<string> {
  const client = await RawClient.greeted(petrel.port, { ehlo: "client.example" });
  const id = queueIdOf(await client.sendMail("sender@petrel.test", recipients, `Subject: ${subject}\r\n\r\nbody of ${subject}\r\n`));
  client.close();
  return id;
}

const outcome = (id: string, recipient: string) => (line: LogLine) => line["event"] === "delivery" && line["queueId"] === id && line["recipient"] === recipient;

/** The Maildir files of a local address (waits until there are `count`). */
async function maildir(address: string, count: number): Promise<string[]> {
  const [local, domain] = address.split("@");
  const folder = join(petrel.dir, "var", "mail", domain!, local!, "new");
  for (;;) {
    const names = await readdir(folder).catch(() => [] as string[]);
    if (names.length >= count) return Promise.all(names.sort().map((name) => readFile(join(folder, name), "utf8")));
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The state folder holding the message (waits until it is `state`). */
async function stateOf(id: string, state: string): Promise<Envelope> {
  for (;;) {
    if ((await readdir(join(petrel.spool, state))).includes(id)) return JSON.parse(await readFile(join(petrel.spool, state, id), "utf8")) as Envelope;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test("postq reject and deny: every recipient fails after the 250, and the sender gets a DSN with the rule's reply", async () => {
  const rejected = await send(["postq-reject@petrel.test", "other@petrel.test"], "postq reject");
  const line = await petrel.waitFor(outcome(rejected, "other@petrel.test"));
  assert.deepEqual([line["result"], line["status"], line["route"]], ["failed", "5.7.1", "(postq rules)"]);
  assert.match(String(line["reply"]), /^550 5\.7\.1 refused after queueing$/);
  const denied = await send(["postq-deny@petrel.test"], "postq deny");
  const deniedLine = await petrel.waitFor(outcome(denied, "postq-deny@petrel.test"));
  assert.deepEqual([deniedLine["result"], deniedLine["reply"]], ["failed", "550 5.7.1 message refused by policy"]);
  const reports = await maildir("sender@petrel.test", 2);
  assert.ok(reports.some((report) => report.includes("Final-Recipient: rfc822; other@petrel.test") && report.includes("refused after queueing")));
  assert.ok(!(await readdir(join(petrel.dir, "var", "mail", "petrel.test")).catch(() => [] as string[])).includes("other"), "nothing delivered");
});

test("postq tempfail: the message waits in deferred/ and postq will run again", async () => {
  const id = await send(["postq-tempfail@petrel.test"], "postq tempfail");
  const line = await petrel.waitFor(outcome(id, "postq-tempfail@petrel.test"));
  assert.deepEqual([line["result"], line["status"], line["reply"]], ["deferred", "4.7.1", "451 4.7.1 not now"]);
  const envelope = await stateOf(id, "deferred");
  assert.equal(envelope.postq, undefined, "postq has not let it through");
  // petrel queue flush: tried again at once, and postq decides again.
  assert.equal((await petrel.queue("flush", id)).code, 0);
  await petrel.waitForCount((entry) => entry["event"] === "rule-verdict" && entry["queueId"] === id && entry["stage"] === "postq", 2);
});

test("postq quarantine and discard: quarantine/ keeps it with the name; discard keeps nothing", async () => {
  const held = await send(["postq-quarantine@petrel.test"], "postq quarantine");
  assert.equal((await stateOf(held, "quarantine")).quarantine, "held-after-queueing");
  const dropped = await send(["postq-discard@petrel.test"], "postq discard");
  await petrel.waitFor((line) => line["event"] === "discarded" && line["queueId"] === dropped);
  for (const state of ["incoming", "active", "deferred", "quarantine"]) assert.ok(!(await readdir(join(petrel.spool, state))).includes(dropped), state);
});

test("postq changes the envelope: a BCC added with its own route is delivered there too", async () => {
  const id = await send(["postq-bcc@petrel.test"], "postq bcc");
  await petrel.waitFor((line) => outcome(id, "archive@petrel.test")(line) && line["result"] === "delivered");
  assert.match(await readFile(join(mboxes, "archive"), "utf8"), /Subject: postq bcc/);
  assert.match((await maildir("postq-bcc@petrel.test", 1))[0]!, /Subject: postq bcc/);
});

test("postq faccept: no delivery rule runs for the message (del-reject is delivered)", async () => {
  const id = await send(["postq-faccept@petrel.test", "del-reject@petrel.test"], "postq faccept");
  const line = await petrel.waitFor(outcome(id, "del-reject@petrel.test"));
  assert.equal(line["result"], "delivered");
});

test("a postq rule that throws or edits headers after queueing fails closed: the mail waits with 4.3.0", async () => {
  const thrown = await send(["postq-throw@petrel.test"], "postq throw");
  const line = await petrel.waitFor(outcome(thrown, "postq-throw@petrel.test"));
  assert.deepEqual([line["result"], line["status"]], ["deferred", "4.3.0"]);
  assert.match(String(line["reply"]), /postq rule broke/);
  const edited = await send(["postq-edit@petrel.test"], "postq edit");
  const editLine = await petrel.waitFor(outcome(edited, "postq-edit@petrel.test"));
  assert.deepEqual([editLine["result"], editLine["status"]], ["deferred", "4.3.0"]);
  assert.match(String(editLine["reply"]), /cannot be edited after it was queued/);
  const failure = await petrel.waitFor((entry) => entry["event"] === "rule-failed" && entry["queueId"] === thrown);
  assert.deepEqual([failure["stage"], failure["rule"], failure["file"]], ["postq", "byFirstRecipient", RULES]);
});

test("delivery verdicts per recipient: reject fails one (DSN), tempfail defers one, discard drops one, the rest is delivered", async () => {
  const id = await send(["plain@petrel.test", "del-reject@petrel.test", "del-tempfail@petrel.test", "del-discard@petrel.test"], "delivery verdicts");
  const results = await Promise.all(
    ["plain", "del-reject", "del-tempfail", "del-discard"].map((local) => petrel.waitFor(outcome(id, `${local}@petrel.test`))),
  );
  assert.deepEqual(
    results.map((line) => [line["result"], line["status"]]),
    [["delivered", "2.0.0"], ["failed", "5.7.1"], ["deferred", "4.7.1"], ["delivered", "2.0.0"]],
  );
  assert.equal(results[3]!["reply"], "discarded by a delivery rule");
  assert.match((await maildir("plain@petrel.test", 1))[0]!, /Subject: delivery verdicts/);
  assert.ok(!(await readdir(join(petrel.dir, "var", "mail", "petrel.test"))).includes("del-discard"), "no copy for a discarded recipient");
  const envelope = await stateOf(id, "deferred");
  assert.deepEqual(envelope.recipients.map((recipient) => [recipient.address, recipient.status]), [
    ["plain@petrel.test", "delivered"],
    ["del-reject@petrel.test", "failed"],
    ["del-tempfail@petrel.test", "pending"],
    ["del-discard@petrel.test", "delivered"],
  ]);
  const reports = await maildir("sender@petrel.test", 3);
  assert.ok(reports.some((report) => report.includes("no delivery to del-reject@petrel.test")), "the DSN says the rule's words");
});

test("delivery route and quarantine: a rule routes one recipient to an mbox; another sends the whole message to quarantine/", async () => {
  const routed = await send(["del-route@petrel.test"], "delivery route");
  await petrel.waitFor((line) => outcome(routed, "del-route@petrel.test")(line) && line["result"] === "delivered");
  assert.match(await readFile(join(mboxes, "del-route"), "utf8"), /^From sender@petrel\.test /);
  const held = await send(["del-quarantine@petrel.test"], "delivery quarantine");
  assert.equal((await stateOf(held, "quarantine")).quarantine, "held-at-delivery");
});

test("a delivery rule past rules.timeout fails closed: the recipient waits with 4.3.0", async () => {
  const id = await send(["del-hang@petrel.test"], "delivery hang");
  const line = await petrel.waitFor(outcome(id, "del-hang@petrel.test"));
  assert.deepEqual([line["result"], line["status"]], ["deferred", "4.3.0"]);
  assert.match(String(line["reply"]), /rules\.timeout/);
});
