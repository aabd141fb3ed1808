// Rules that see the message (preq) and the AUTH stage, over the wire with test/fixtures/rules/preq.ts: every
// verdict after DATA, header edits written into the queued message byte-exactly (in memory and for a body
// streamed to disk), exports, attachments, a message left without recipients, and AUTH refused by a rule.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeCredentials } from "../src/accounts/credentials.ts";
import { writeUsers } from "../src/accounts/user-file.ts";
import { Petrel, freePort } from "./support/petrel-process.ts";
import { queueIdOf, RawClient } from "./support/smtp-client.ts";

const RULES = new URL("./fixtures/rules/preq.ts", import.meta.url).pathname;

let petrel: Petrel;
let submission: number;
let exports: string;

before(async () => {
  const dir = await mkdtemp(join(tmpdir(), "petrel-preq-"));
  exports = join(dir, "exports");
  await mkdir(join(dir, "var"), { recursive: true });
  const credentials = await makeCredentials("a good password");
  await writeUsers(join(dir, "var", "users"), new Map([["refused@localhost", credentials], ["closed@localhost", credentials], ["fine@localhost", credentials]]));
  submission = await freePort();
  petrel = await Petrel.start({
    dir,
    toml:
      `[rules]\nfiles = ["${RULES}"]\nsettings = { exports = "${exports}" }\n` +
      `[[listener]]\nname = "submission"\naddress = "127.0.0.1"\nport = ${submission}\nrole = "submission"\nplaintext_auth = true`,
  });
});
after(() => petrel.remove());

async function send(content: string, recipients = ["postmaster@localhost"]): Promise<{ client: RawClient; text: string; code: number | undefined }> {
  const client = await RawClient.greeted(petrel.port, { ehlo: "client.example" });
  const reply = await client.sendMail("sender@example.org", recipients, content);
  return { client, text: reply?.text ?? "", code: reply?.code };
}

test("preq: reject and tempfail refuse the message and keep the session; deny too; nothing is left in the spool", async () => {
  const rejected = await send("Subject: reject\r\n\r\nx\r\n");
  assert.equal(rejected.text, "550 5.7.1 no thanks");
  assert.equal((await rejected.client.command("NOOP"))?.code, 250, "the session goes on");
  const deferred = await rejected.client.sendMail("sender@example.org", ["postmaster@localhost"], "Subject: tempfail\r\n\r\nx\r\n");
  assert.equal(deferred?.text, "451 4.7.1 later please");
  const denied = await rejected.client.sendMail("sender@example.org", ["postmaster@localhost"], "Subject: deny\r\n\r\nx\r\n");
  assert.equal(denied?.text, "550 5.7.1 message refused by policy");
  assert.equal((await rejected.client.command("NOOP"))?.code, 250, "deny after DATA refuses the message only");
  rejected.client.close();
  const thrown = await send("Subject: throw\r\n\r\nx\r\n");
  assert.match(thrown.text, /^451 4\.3\.0 /);
  thrown.client.close();
  await petrel.waitFor((line) => line["event"] === "rule-failed" && line["stage"] === "preq" && /preq rule broke/.test(String(line["error"])));
  assert.deepEqual(await readdir(join(petrel.spool, "body")), [], "every refused body removed");
});

test("preq: quarantine, discard, and a message whose recipients a rule removed", async () => {
  const held = await send("Subject: quarantine\r\n\r\nx\r\n");
  const id = queueIdOf({ code: held.code ?? 0, lines: [held.text], text: held.text });
  assert.equal(JSON.parse(await readFile(join(petrel.spool, "quarantine", id), "utf8")).quarantine, "held");
  for (const subject of ["discard", "drop all"]) {
    const dropped = await send(`Subject: ${subject}\r\n\r\nx\r\n`);
    assert.match(dropped.text, /^250 2\.0\.0 queued as /, "answered as if queued");
    const droppedId = dropped.text.split(" ").at(-1)!;
    await petrel.waitFor((line) => line["event"] === "discarded" && line["queueId"] === droppedId);
    assert.ok(!(await readdir(join(petrel.spool, "body"))).includes(droppedId));
    dropped.client.close();
  }
  held.client.close();
});

test("preq: header edits land in the queued message; every untouched byte stays as it was", async () => {
  const original =
    "X-Old: kept value\r\nSubject: edit\r\nX-Latin: caf\xe9 cr\xe8me\r\nX-Folded: first\r\n\tsecond line\r\nX-Remove: a\r\n" +
    "X-Remove: b\r\n\r\nbody line one\r\n\xff\xfe binary-ish\r\n";
  const { text, client } = await send(original);
  client.close();
  const id = text.split(" ").at(-1)!;
  const { content } = await petrel.spooled(id);
  assert.equal(
    content.toString("latin1"),
    "X-Added: by a rule\r\nX-New: kept value\r\nSubject: edited\r\nX-Latin: caf\xe9 cr\xe8me\r\nX-Folded: first\r\n\tsecond line\r\n" +
      "X-Bottom: last\r\n\r\nbody line one\r\n\xff\xfe binary-ish\r\n",
  );
});

test("preq: a header edit on a 3 MB message streamed to disk rewrites the head and keeps the body", async () => {
  const body = `${"0123456789abcdef".repeat(64)}\r\n`.repeat(3000);
  const { text, client } = await send(`Subject: edit\r\nX-Remove: gone\r\n\r\n${body}`);
  client.close();
  const id = text.split(" ").at(-1)!;
  const { content, envelope } = await petrel.spooled(id);
  assert.equal(content.toString("latin1"), `X-Added: by a rule\r\nSubject: edited\r\nX-Bottom: last\r\n\r\n${body}`);
  assert.equal(envelope.size, (await readFile(join(petrel.spool, "body", id))).length, "the envelope counts the edited size");
});

test("preq: exports write the message as .eml and .json; attachments are seen by name and size", async () => {
  const exported = await send("Subject: export\r\nFrom: Ann <ann@example.org>\r\n\r\nhello\r\n");
  const id = exported.text.split(" ").at(-1)!;
  exported.client.close();
  const eml = await readFile(join(exports, `${id}.eml`));
  assert.equal(eml.toString("latin1"), (await readFile(join(petrel.spool, "body", id))).toString("latin1"));
  const json = JSON.parse(await readFile(join(exports, `${id}.json`), "utf8"));
  assert.equal(json.queueId, id);
  assert.equal(json.envelope.sender, "sender@example.org");
  assert.equal(json.mime.subject, "export");
  assert.equal(json.mime.text, "hello\n");
  assert.deepEqual(json.mime.from, { address: "ann@example.org", name: "Ann" });

  const mime = (name: string) =>
    `Subject: attachments\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n` +
    `--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="${name}"\r\nContent-Transfer-Encoding: base64\r\n\r\n` +
    `${Buffer.from("0123456789").toString("base64")}\r\n--b--\r\n`;
  const refused = await send(mime("setup.exe"));
  assert.equal(refused.text, "550 5.7.1 executable attachment refused (1 attachments)");
  refused.client.close();
  const accepted = await send(mime("notes.pdf"));
  accepted.client.close();
  assert.match((await petrel.spooled(accepted.text.split(" ").at(-1)!)).content.toString(), /^X-Attachments: notes\.pdf:10\r\n/);
});

test("auth: a rule refuses one user's AUTH (535, session goes on), closes another's, lets the rest in", async () => {
  const plain = (user: string) => Buffer.from(`\0${user}\0a good password`).toString("base64");
  const client = await RawClient.greeted(submission, { ehlo: "client.example" });
  assert.equal((await client.command(`AUTH PLAIN ${plain("refused@localhost")}`))?.text, "535 5.7.8 authentication refused by policy");
  assert.equal((await client.command("MAIL FROM:<refused@localhost>"))?.code, 530, "not authenticated");
  assert.equal((await client.command(`AUTH PLAIN ${plain("fine@localhost")}`))?.code, 235);
  assert.equal((await client.command("MAIL FROM:<fine@localhost>"))?.code, 250);
  client.close();
  const closed = await RawClient.greeted(submission, { ehlo: "client.example" });
  assert.equal((await closed.command(`AUTH PLAIN ${plain("closed@localhost")}`))?.text, "535 5.7.8 this account is closed");
  assert.equal(await closed.read(), null, "deny ends the session");
  const line = await petrel.waitFor((entry) => entry["event"] === "rule-verdict" && entry["stage"] === "auth");
  assert.equal(line["rule"], "refuseSomeUsers");
});

test("a SIZE seen by a rule is the message's size with Petrel's Received header", async () => {
  const { text, client } = await send("Subject: size\r\n\r\n12345\r\n");
  client.close();
  const { body, content } = await petrel.spooled(text.split(" ").at(-1)!);
  const seen = Number(/^X-Size-Seen: (\d+)/.exec(content.toString())?.[1]);
  assert.equal(seen, body.length - `X-Size-Seen: ${seen}\r\n`.length);
  await writeFile(join(exports, "done"), "");
});
