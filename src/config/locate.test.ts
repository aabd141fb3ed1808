import assert from "node:assert/strict";
import { test } from "node:test";
import { keyText, lineOf, locateKeys } from "./locate.ts";

const text = `# comment [not.a = table]
title = "x" # trailing
[server]
hostname = "mx"
a.b.c = 1
"quoted.key" = 2
[smtp]
local_domains = [
  "a", # one
  "b",
]
banner = """
fake = 1
[fake]
"""
[smtp.timeouts]
command = "5m"
[[listener]]
port = 25
[[listener]]
prot = 26
[listener.tls]
cert = "x"
[[listener]]
inline = { x = 1, y = { z = 2 } }
[log]
modules = { smtp = "debug",
  queue = "info" }
list = [{ p = 1 }, { q = 2 }]
`;

test("locates keys under tables, arrays of tables, dotted, quoted and inline keys", () => {
  const lines = locateKeys(text);
  assert.equal(lines.get("title"), 2);
  assert.equal(lines.get("server"), 3);
  assert.equal(lines.get("server.hostname"), 4);
  assert.equal(lines.get("server.a.b.c"), 5);
  assert.equal(lines.get("server.a"), 5);
  assert.equal(lines.get('server."quoted.key"'), 6);
  assert.equal(lines.get("smtp.local_domains"), 8);
  assert.equal(lines.get("smtp.local_domains[1]"), 10);
  assert.equal(lines.get("smtp.banner"), 12);
  assert.equal(lines.get("smtp.timeouts.command"), 17);
  assert.equal(lines.get("listener[0].port"), 19);
  assert.equal(lines.get("listener[1]"), 20);
  assert.equal(lines.get("listener[1].prot"), 21);
  assert.equal(lines.get("listener[1].tls.cert"), 23);
  assert.equal(lines.get("listener[2].inline.y.z"), 25);
  assert.equal(lines.get("log.modules.queue"), 28);
  assert.equal(lines.get("log.list[1].q"), 29);
  // Text inside strings and comments is not a key.
  assert.equal(lines.get("smtp.fake"), undefined);
  assert.equal(lines.get("fake"), undefined);
  assert.equal(lines.get("not"), undefined);
});

test("a key that is not written is placed on its nearest written parent", () => {
  const lines = locateKeys(text);
  assert.equal(lineOf(lines, ["listener", 1, "port"]), 20);
  assert.equal(lineOf(lines, ["smtp", "timeouts", "data"]), 16);
  assert.equal(lineOf(lines, ["spool", "dir"]), undefined);
});

test("key text quotes keys that are not bare and indexes arrays", () => {
  assert.equal(keyText(["listener", 1, "prot"]), "listener[1].prot");
  assert.equal(keyText(["log", "modules", "a.b"]), 'log.modules."a.b"');
  assert.equal(keyText([]), "");
});

test("never throws on odd but valid documents", () => {
  for (const odd of ["", "\n\n", "a = '''\n'''", 'a = """x""""', "[ a . b ]\nc=1", "a = [[1, 2], [3]]", "t = 1979-05-27 07:32:00Z"]) {
    assert.doesNotThrow(() => locateKeys(odd));
  }
  assert.equal(locateKeys("[ a . b ]\nc=1").get("a.b.c"), 2);
  assert.equal(locateKeys("a = [[1, 2], [3, 4]]\nb = 1").get("a[1][0]"), 1);
  assert.equal(locateKeys('a = """x""""\nb = 1').get("b"), 2);
});
