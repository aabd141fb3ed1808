// The policy that needs no code, over the wire: no open relay by default, only existing mailboxes and aliases
// at the local domains (smtp.mailboxes, smtp.aliases), alias expansion into the queued envelope with the
// original address as ORCPT, a per-domain recipient limit, and the files reread on SIGHUP.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Petrel } from "./support/petrel-process.ts";
import { queueIdOf, RawClient } from "./support/smtp-client.ts";

let petrel: Petrel;
let aliases: string;

before(async () => {
  const dir = await mkdtemp(join(tmpdir(), "petrel-local-"));
  aliases = join(dir, "aliases");
  await writeFile(aliases, "postmaster: alice\nteam: alice, bob, friend@elsewhere.example\n");
  await writeFile(join(dir, "mailboxes"), "alice@example.org\nbob@example.org\n@example.net\n");
  petrel = await Petrel.start({
    dir,
    toml:
      `[smtp]\nlocal_domains = ["example.org", "example.net"]\naliases = "${aliases}"\nmailboxes = "${join(dir, "mailboxes")}"\n` +
      "max_recipients_per_domain = 3",
  });
});
after(() => petrel.remove());

test("unknown local users get 550 5.1.1; mailboxes, whole domains and aliases are taken; relaying is refused", async () => {
  const client = await RawClient.greeted(petrel.port, { ehlo: "client.example" });
  assert.equal((await client.command("MAIL FROM:<someone@elsewhere.example>"))?.code, 250);
  assert.equal((await client.command("RCPT TO:<mallory@example.org>"))?.text, "550 5.1.1 no such user here");
  assert.equal((await client.command("RCPT TO:<anyone@example.net>"))?.code, 250);
  assert.equal((await client.command("RCPT TO:<friend@elsewhere.example>"))?.text, "550 5.7.1 relay access denied");
  assert.equal((await client.command("RCPT TO:<team@example.org>"))?.code, 250);
  assert.equal((await client.command("DATA"))?.code, 354);
  const id = queueIdOf(await client.command("Subject: team\r\n\r\nhello\r\n."));
  client.close();
  const { recipients } = (await petrel.spooled(id)).envelope;
  assert.deepEqual(
    recipients.map((recipient) => [recipient.address, recipient.orcpt?.address]),
    [
      ["anyone@example.net", undefined],
      ["alice@example.org", "team@example.org"],
      ["bob@example.org", "team@example.org"],
      ["friend@elsewhere.example", "team@example.org"],
    ],
  );
});

test("more recipients of one domain than max_recipients_per_domain: 452 4.5.3, the others are taken", async () => {
  const client = await RawClient.greeted(petrel.port, { ehlo: "client.example" });
  assert.equal((await client.command("MAIL FROM:<someone@elsewhere.example>"))?.code, 250);
  for (const user of ["a", "b", "c"]) assert.equal((await client.command(`RCPT TO:<${user}@example.net>`))?.code, 250);
  assert.equal((await client.command("RCPT TO:<d@example.net>"))?.text, "452 4.5.3 too many recipients for this domain, send the rest later");
  assert.equal((await client.command("RCPT TO:<alice@example.org>"))?.code, 250, "another domain still has room");
  client.close();
});

test("the aliases file is reread on SIGHUP", async () => {
  await writeFile(aliases, "postmaster: bob\n");
  petrel.process.kill("SIGHUP");
  await petrel.waitForMessage("configuration reloaded");
  const client = await RawClient.greeted(petrel.port, { ehlo: "client.example" });
  const id = queueIdOf(await client.sendMail("x@elsewhere.example", ["postmaster@example.net"], "Subject: p\r\n\r\nx\r\n"));
  client.close();
  assert.deepEqual((await petrel.spooled(id)).envelope.recipients.map((recipient) => recipient.address), ["bob@example.net"]);
  const refused = await RawClient.greeted(petrel.port, { ehlo: "client.example" });
  assert.equal((await refused.command("MAIL FROM:<x@elsewhere.example>"))?.code, 250);
  assert.equal((await refused.command("RCPT TO:<team@example.org>"))?.text, "550 5.1.1 no such user here", "team is gone");
  refused.close();
});

test("an internationalised local domain takes mail in either spelling (U-labels with SMTPUTF8, or A-labels)", async () => {
  const idn = await Petrel.start({ toml: `[smtp]\nlocal_domains = ["bücher.example"]` });
  try {
    const client = await RawClient.greeted(idn.port, { ehlo: "client.example" });
    assert.equal((await client.command("MAIL FROM:<someone@elsewhere.example> SMTPUTF8"))?.code, 250);
    client.write(Buffer.from("RCPT TO:<jörg@bücher.example>\r\n", "utf8")); // command() sends latin1
    const utf8 = await client.read();
    assert.equal(utf8?.code, 250, utf8?.text);
    assert.equal((await client.command("RCPT TO:<anna@xn--bcher-kva.example>"))?.code, 250);
    assert.equal((await client.command("RCPT TO:<anna@bucher.example>"))?.text, "550 5.7.1 relay access denied");
    client.close();
  } finally {
    await idn.remove();
  }
});

