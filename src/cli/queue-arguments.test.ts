// Tests of reading `petrel queue` arguments: what each subcommand takes, filters and their values, and the
// usage mistakes that must come back as problems.

import assert from "node:assert/strict";
import { test } from "node:test";
import { parseQueueArguments } from "./queue-arguments.ts";
import type { QueueRequest } from "./queue-arguments.ts";

function request(...argv: string[]): QueueRequest {
  const parsed = parseQueueArguments(argv);
  if (!parsed.ok) assert.fail(`${argv.join(" ")}: ${parsed.problem}`);
  return parsed.request;
}

function problem(...argv: string[]): string {
  const parsed = parseQueueArguments(argv);
  if (parsed.ok) assert.fail(`${argv.join(" ")} was accepted`);
  return parsed.problem;
}

test("filters are read with their values, in both spellings", () => {
  const { filters, json, all, ids } = request(
    "hold",
    "--sender",
    "@Example.ORG.",
    "--recipient=Bob@Example.net",
    "--domain",
    "example.com",
    "--state",
    "incoming, deferred",
    "--older-than",
    "1.5h",
    "--younger-than=2d",
    "--json",
  );
  assert.deepEqual(filters, {
    sender: { kind: "domain", domain: "example.org" },
    recipient: { kind: "address", address: "bob@example.net" },
    domain: "example.com",
    states: ["incoming", "deferred"],
    olderThan: 90 * 60_000,
    youngerThan: 2 * 86_400_000,
  });
  assert.equal(json, true);
  assert.equal(all, false);
  assert.deepEqual(ids, []);
  assert.deepEqual(request("list", "--sender", "<>").filters, { sender: { kind: "null" } });
  assert.deepEqual(request("list", "--sender", "").filters, { sender: { kind: "null" } });
});

test("actions take queue ids (each once), or --all and filters, never both; flush alone means every deferred message", () => {
  assert.deepEqual(request("remove", "01A", "01B", "01A").ids, ["01A", "01B"]);
  assert.equal(request("requeue", "--all").all, true);
  assert.equal(request("bounce", "--all", "--domain", "example.com").all, true);
  assert.deepEqual(request("flush").ids, []);
  assert.equal(problem("hold"), "hold needs queue ids, --all, or filters");
  assert.equal(problem("release", "01A", "--all"), "name queue ids, or select with --all and filters, not both");
  assert.equal(problem("remove", "01A", "--state", "hold"), "name queue ids, or select with --all and filters, not both");
});

test("each subcommand takes only its own options and operands", () => {
  assert.equal(request("shape", "--by", "sender").by, "sender");
  assert.equal(request("shape").by, "recipient");
  assert.equal(problem("shape", "--by", "size"), "--by takes recipient or sender");
  assert.equal(problem("list", "--by", "sender"), "list takes no option --by");
  assert.equal(problem("list", "--all"), "list takes no option --all");
  assert.equal(problem("show", "--state", "hold", "01A"), "show takes no option --state");
  assert.equal(problem("show"), "show takes one queue id");
  assert.equal(problem("show", "01A", "01B"), "show takes one queue id");
  assert.equal(problem("list", "01A"), "list takes no queue id");
  assert.equal(problem("list", "-h"), "list takes no option -h");
  assert.equal(problem("list", "--json=yes"), "--json takes no value");
  assert.equal(problem("list", "--sender"), "--sender needs a value");
  assert.equal(problem("list", "--sender", "a@b", "--sender", "c@d"), "--sender given twice");
  assert.equal(problem(), "which subcommand?");
  assert.equal(problem("purge"), 'unknown subcommand "purge"');
});

test("bad filter values are named", () => {
  assert.equal(problem("list", "--state", "held"), "--state takes incoming, active, deferred, hold, quarantine, corrupt (or several, comma-separated)");
  assert.equal(problem("list", "--older-than", "30"), "--older-than takes an age with a unit: 90s, 30m, 2h, 5d, 1w");
  assert.equal(problem("list", "--younger-than", "soon"), "--younger-than takes an age with a unit: 90s, 30m, 2h, 5d, 1w");
  assert.equal(problem("list", "--older-than", "2y"), "--older-than takes an age with a unit: 90s, 30m, 2h, 5d, 1w");
  assert.equal(problem("list", "--recipient", "<>"), "--recipient takes an address or @domain");
  assert.equal(problem("list", "--sender", "a b@example.org"), "--sender takes an address, @domain, or <> (the null sender)");
  assert.equal(problem("list", "--domain", "@example.com"), "--domain takes a domain (example.com)");
  assert.equal(problem("list", "--domain", ""), "--domain takes a domain (example.com)");
});
