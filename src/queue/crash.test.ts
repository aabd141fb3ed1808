// The crash test: a child process commits in a loop and is killed with SIGKILL, three times over;
// after each recovery every commit that had resolved is there, complete, and nothing else is.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { expectedBody, freshDirectory } from "./fixtures/spool-fixtures.ts";
import { Spool } from "./spool.ts";

const commitLoop = fileURLToPath(new URL("./fixtures/commit-loop.ts", import.meta.url));

/** Runs the committing child until it has reported `count` ids, kills it with SIGKILL, returns every id it reported. */
async function commitThenKill(root: string, count: number): Promise<string[]> {
  const child = spawn(process.execPath, [commitLoop, root, "0"], { stdio: ["ignore", "pipe", "inherit"] });
  const exited = once(child, "exit");
  const reported: string[] = [];
  const lines = createInterface({ input: child.stdout });
  const closed = once(lines, "close");
  lines.on("line", (id) => {
    reported.push(id);
    if (reported.length === count) child.kill("SIGKILL");
  });
  const [, signal] = await exited;
  await closed;
  assert.equal(signal, "SIGKILL", "the child must die by the kill, not on its own");
  return reported;
}

test("kill -9 while committing: after recovery every acknowledged message is complete and nothing else is left", async (t) => {
  const root = await freshDirectory(t);
  const acknowledged = new Set<string>();
  for (let round = 0; round < 3; round++) {
    for (const id of await commitThenKill(root, 120)) {
      assert.ok(!acknowledged.has(id), `id ${id} was handed out twice across restarts`);
      acknowledged.add(id);
    }
    const spool = await Spool.open(root);
    const report = await spool.recover();
    t.diagnostic(
      `round ${round}: ${acknowledged.size} acknowledged, ${report.counts.incoming} spooled, ` +
        `${report.removedTemporary.length} tmp and ${report.removedOrphanBodies.length} orphan bodies removed`,
    );
    assert.deepEqual(report.movedToCorrupt, [], "a process crash must never leave a damaged message");

    const spooled = new Set<string>();
    for await (const { id, envelope } of spool.list()) {
      const body = await readFile(join(root, "body", id));
      assert.deepEqual(body, expectedBody(id), `message ${id} is not complete`);
      assert.equal(envelope.size, body.length);
      spooled.add(id);
    }
    for (const id of acknowledged) assert.ok(spooled.has(id), `acknowledged message ${id} was lost`);
    assert.deepEqual((await readdir(join(root, "body"))).sort(), [...spooled].sort(), "only complete messages remain");
    assert.deepEqual(await readdir(join(root, "tmp")), []);
  }
});
