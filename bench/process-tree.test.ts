// Tests of the /proc readers the memory figures rest on.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { test } from "node:test";
import { parseProcStat, parseResidentBytes, processTree, residentBytes } from "./process-tree.ts";

test("a command name holding spaces and parentheses does not shift the fields", () => {
  // utime 7, stime 3, cutime 20, cstime 10: fields 14-17
  const entry = parseProcStat("4242 (odd) (name) S 17 4242 4242 0 -1 4194560 0 0 0 0 7 3 20 10 20 0 1 0");
  assert.deepEqual(entry, { pid: 4242, state: "S", parentPid: 17, cpuTicks: 40 });
});

test("VmRSS is read in bytes, and a process without it has none", () => {
  assert.equal(parseResidentBytes("Name:\tnode\nVmRSS:\t  51200 kB\nRssAnon:\t1 kB\n"), 51200 * 1024);
  assert.equal(parseResidentBytes("Name:\tkthreadd\nState:\tS (sleeping)\n"), 0);
});

test("the tree of this process holds its child, and the child has resident memory", async () => {
  const child = spawn(process.execPath, ["-e", "process.stdin.resume()"], { stdio: ["pipe", "ignore", "ignore"] });
  await once(child, "spawn");
  try {
    const tree = await processTree(process.pid);
    assert.equal(tree[0], process.pid);
    assert.ok(tree.includes(child.pid!));
    assert.ok((await residentBytes(child.pid!)) > 1024 * 1024);
  } finally {
    child.stdin.end();
    await once(child, "exit");
  }
});
