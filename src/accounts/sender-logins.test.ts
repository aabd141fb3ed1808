import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Mailbox, parsePath } from "../smtp/address.ts";
import { ownsSender, readSenderLogins } from "./sender-logins.ts";

const local = new Set(["example.org"]);

function mailbox(text: string): Mailbox {
  const parsed = parsePath(`<${text}>`, "sender");
  if (parsed === null || !("address" in parsed)) throw new Error(text);
  return parsed;
}

async function mapFrom(text: string) {
  const path = join(await mkdtemp(join(tmpdir(), "sender-logins-")), "map");
  await writeFile(path, text);
  return readSenderLogins(path);
}

test("without a map: a user named like an address owns it, a plain name owns its local part at local domains", () => {
  const none = new Map();
  assert.ok(ownsSender(none, "Alice@Example.org", mailbox("alice@example.org"), local));
  assert.ok(!ownsSender(none, "alice@example.org", mailbox("bob@example.org"), local));
  assert.ok(ownsSender(none, "bob", mailbox("Bob@EXAMPLE.org"), local));
  assert.ok(!ownsSender(none, "bob", mailbox("bob@elsewhere.example"), local));
});

test("the most specific line decides: address, then @domain, then *; unlisted senders fall back to the default", async () => {
  const map = await mapFrom("# who sends as whom\nsales@example.org  alice, bob\n@example.net carol # a domain\n* postmaster\n");
  assert.ok(ownsSender(map, "bob", mailbox("Sales@example.org"), local));
  assert.ok(!ownsSender(map, "carol", mailbox("sales@example.org"), local), "the address line names only alice and bob");
  assert.ok(ownsSender(map, "carol", mailbox("anyone@example.net"), local));
  assert.ok(!ownsSender(map, "alice", mailbox("anyone@example.net"), local));
  assert.ok(ownsSender(map, "postmaster", mailbox("x@anywhere.example"), local));
  assert.ok(!ownsSender(map, "alice@example.org", mailbox("alice@example.org"), local), "* matches every sender");
  const noStar = await mapFrom("sales@example.org alice\n");
  assert.ok(ownsSender(noStar, "alice@example.org", mailbox("alice@example.org"), local), "unlisted: the default rule");
});

test("a bad line names the file and line; a missing file is an error, no path means no map", async () => {
  await assert.rejects(mapFrom("ok@example.org alice\nnot-an-address alice\n"), /map:2: expected/);
  await assert.rejects(mapFrom("a@example.org\n"), /map:1: expected/);
  await assert.rejects(mapFrom("a@example.org x\nA@example.org y\n"), /map:2: A@example.org is listed twice/);
  await assert.rejects(readSenderLogins("/nonexistent/petrel-map"), /^Error: \/nonexistent\/petrel-map: no such file$/);
  assert.equal((await readSenderLogins(undefined)).size, 0);
});
