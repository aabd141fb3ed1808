import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { direction, expandAliases, isKnownLocal, readAliases, readLocalRecipients } from "./local-recipients.ts";

const local = new Set(["example.org", "example.net"]);

async function file(text: string): Promise<string> {
  const path = join(await mkdtemp(join(tmpdir(), "aliases-")), "aliases");
  await writeFile(path, text);
  return path;
}

test("aliases: local parts at every local domain, whole addresses, continuation lines, comments", async () => {
  const aliases = await readAliases(
    await file("# team\npostmaster: root\nroot: alice, bob@example.net\nsales@example.net: carol,\n  dave@elsewhere.example  # outside\n"),
    local,
  );
  assert.deepEqual(expandAliases(aliases, "postmaster@example.org", local), ["alice@example.org", "bob@example.net"]);
  assert.deepEqual(expandAliases(aliases, "Sales@example.net", local), ["carol@example.net", "dave@elsewhere.example"]);
  assert.deepEqual(expandAliases(aliases, "sales@example.org", local), ["sales@example.org"], "not that domain's alias");
  assert.deepEqual(expandAliases(aliases, "root@remote.example", local), ["root@remote.example"], "local parts only at local domains");
});

test("aliases: a copy kept by listing a name among its own targets; duplicates collapse", async () => {
  const aliases = await readAliases(await file("alice: alice, bob\nbob: alice\nd: e, e\n"), local);
  assert.deepEqual(expandAliases(aliases, "alice@example.org", local), ["alice@example.org"]);
  assert.deepEqual(expandAliases(aliases, "bob@example.org", local), ["alice@example.org"]);
  assert.deepEqual(expandAliases(aliases, "d@example.org", local), ["e@example.org"]);
});

test("aliases: a forwarding loop or an expansion through more than 10 aliases is refused when the file is read", async () => {
  await assert.rejects(
    readAliases(await file("# team\na: b\nb: c\nc: a\n"), local),
    /aliases:2: mail for a@example\.org reaches no mailbox: it goes round a@example\.org → b@example\.org → c@example\.org → a@example\.org \(a forwarding loop\)/,
  );
  await assert.rejects(readAliases(await file("a: b@example.net\nb: a@example.org\n"), local), /aliases:1: .* goes round a@example\.org → b@example\.net → a@example\.org/);
  // A loop at one local domain only, through a whole-address name there.
  await assert.rejects(readAliases(await file("a: b\nb@example.net: a\n"), local), /aliases:1: mail for a@example\.net reaches no mailbox: it goes round a@example\.net → b@example\.net → a@example\.net/);
  // A way back beside a way out is no loop: the mail takes the way out.
  assert.deepEqual(expandAliases(await readAliases(await file("a: b\nb: c\nc: a, d\n"), local), "a@example.org", local), ["d@example.org"]);
  const chain = (links: number) => Array.from({ length: links }, (_, i) => `l${i}: l${i + 1}`).join("\n");
  await assert.rejects(readAliases(await file(chain(11)), local), /aliases:1: l0@example\.org expands through more than 10 aliases/);
  assert.deepEqual(expandAliases(await readAliases(await file(chain(10)), local), "l0@example.org", local), ["l10@example.org"]);
  // The same names at a domain that is not local are no aliases: no loop there.
  await readAliases(await file("a: b@remote.example\n"), local);
});

test("aliases: an expansion that reaches no mailbox (a file with one is refused when read) leaves the address as it is", () => {
  const aliases = new Map([["a", ["b@example.net"]], ["b", ["a@example.org"]]]);
  assert.deepEqual(expandAliases(aliases, "a@example.org", local), ["a@example.org"]);
});

test("aliases: bad lines name the file and line", async () => {
  await assert.rejects(readAliases(await file("root alice\n"), local), /aliases:1: expected "name: target, target"/);
  await assert.rejects(readAliases(await file("  alice\n"), local), /aliases:1: a continuation line/);
  await assert.rejects(readAliases(await file("a: b\na: c\n"), local), /aliases:2: a is defined twice/);
  await assert.rejects(readAliases(await file("a: b c\n"), local), /aliases:1: "b c" is not an address/);
  await assert.rejects(readAliases(await file("a:\n"), local), /a has no target/);
  await assert.rejects(readAliases("/nonexistent/aliases", local), /\/nonexistent\/aliases: no such file/);
});

test("aliases: :include: a file of targets (commas, spaces, lines, comments), read with the aliases", async () => {
  const list = await file("# the list\nalice, bob@example.net\ncarol  dave@elsewhere.example\n");
  const aliases = await readAliases(await file(`team: :include:${list}, erin\n`), local);
  assert.deepEqual(expandAliases(aliases, "team@example.org", local), [
    "alice@example.org",
    "bob@example.net",
    "carol@example.org",
    "dave@elsewhere.example",
    "erin@example.org",
  ]);
});

test("aliases: a command, a file or a bad :include: is refused when the file is read, with its line", async () => {
  await assert.rejects(readAliases(await file("a: b\nc: |/usr/bin/procmail\n"), local), /aliases:2: "\|\/usr\/bin\/procmail": delivery to a command or a file is not supported/);
  await assert.rejects(readAliases(await file('a: "|exit 67"\n'), local), /aliases:1: .*delivery to a command or a file/);
  await assert.rejects(readAliases(await file("a: /var/mail/archive\n"), local), /aliases:1: .*delivery to a command or a file/);
  await assert.rejects(readAliases(await file("a: :include:lists/team\n"), local), /aliases:1: :include: needs an absolute path/);
  await assert.rejects(readAliases(await file("a: :include:/nonexistent/team\n"), local), /aliases:1: :include:\/nonexistent\/team: no such file/);
  const nested = await file(`alice\n:include:${await file("bob\n")}\n`);
  await assert.rejects(readAliases(await file(`a: :include:${nested}\n`), local), new RegExp(`${nested}:2: an :include: file cannot include another`));
  const bad = await file("alice\nbob carol |cmd\n");
  await assert.rejects(readAliases(await file(`a: :include:${bad}\n`), local), new RegExp(`${bad}:2: "\\|cmd": delivery to a command or a file`));
  await assert.rejects(readAliases(await file(`a: :include:${await file("# nobody\n")}\n`), local), /lists no target/);
});

test("mailboxes: listed addresses, whole domains and local parts exist; aliases too; no list: all exist", async () => {
  const mailboxes = await file("alice@example.org\n@example.net\npostmaster@\n");
  const policy = await readLocalRecipients(await file("sales: alice\n"), mailboxes, local);
  assert.ok(isKnownLocal(policy, "alice@example.org", local));
  assert.ok(isKnownLocal(policy, "anyone@example.net", local));
  assert.ok(isKnownLocal(policy, "postmaster@example.org", local));
  assert.ok(isKnownLocal(policy, "sales@example.org", local), "an alias exists");
  assert.ok(!isKnownLocal(policy, "mallory@example.org", local));
  assert.ok(isKnownLocal(await readLocalRecipients(undefined, undefined, local), "mallory@example.org", local));
});

test("direction: outgoing to remote domains, internal between local ones, incoming otherwise", () => {
  assert.equal(direction("example.org", "elsewhere.example", local), "outgoing");
  assert.equal(direction("example.org", "example.net", local), "internal");
  assert.equal(direction("elsewhere.example", "example.org", local), "incoming");
  assert.equal(direction(null, "example.org", local), "incoming", "the null sender");
});
