// Tests of `petrel queue shape`: qshape's age buckets at their edges, rows by recipient and by sender domain,
// the states it looks at, filters, and the text and JSON tables.

import assert from "node:assert/strict";
import { test } from "node:test";
import { freshDirectory } from "../queue/fixtures/spool-fixtures.ts";
import { Spool } from "../queue/spool.ts";
import { isoAt, minutes, plant, receivedAt, runQueue } from "./queue-fixtures.ts";
import { bucketOf } from "./queue-shape.ts";

test("bucket edges: under 5 minutes is the first bucket, 5 exactly the second, over 1280 the last", () => {
  assert.equal(bucketOf(0), 0);
  assert.equal(bucketOf(-minutes(3)), 0, "a clock behind the arrival counts as new");
  assert.equal(bucketOf(minutes(5) - 1), 0);
  assert.equal(bucketOf(minutes(5)), 1);
  assert.equal(bucketOf(minutes(10)), 2);
  assert.equal(bucketOf(minutes(639)), 7);
  assert.equal(bucketOf(minutes(640)), 8);
  assert.equal(bucketOf(minutes(1280) - 1), 8);
  assert.equal(bucketOf(minutes(1280)), 9);
  assert.equal(bucketOf(minutes(100_000)), 9);
  assert.equal(bucketOf(Number.NaN), 0);
});

/** A spool with pending recipients of several ages, states and domains; the clock stands at arrival + 2000 min. */
async function shapedSpool(root: string): Promise<number> {
  await Spool.open(root);
  const at = (age: number) => ({ receivedAt: isoAt(minutes(2000 - age)) });
  await plant(root, "incoming", "01SSSSSSSSSSS1", { ...at(1), recipients: ["a@example.net", "b@Example.NET", "c@example.com"] });
  await plant(root, "active", "01SSSSSSSSSSS2", { ...at(7), recipients: ["a@example.com"] });
  await plant(root, "deferred", "01SSSSSSSSSSS3", {
    ...at(700),
    sender: "",
    recipients: ["d@example.net", { address: "e@example.net", status: "delivered" }, { address: "f@example.org", status: "failed" }],
  });
  await plant(root, "deferred", "01SSSSSSSSSSS4", { ...at(1500), sender: "x@lists.example.org", recipients: ["postmaster"] });
  await plant(root, "hold", "01SSSSSSSSSSS5", { ...at(1), recipients: ["held@example.net"] });
  return receivedAt + minutes(2000);
}

test("shape counts pending recipients by domain and age, TOTAL first, busiest domain next", async (t) => {
  const root = await freshDirectory(t);
  const now = await shapedSpool(root);
  const { code, out } = await runQueue(["shape"], root, { at: now });
  assert.equal(code, 0);
  assert.equal(
    out,
    [
      "             T  5  10  20  40  80  160  320  640  1280  1280+",
      "      TOTAL  6  3   1   0   0   0    0    0    0     1      1",
      "example.net  3  2   0   0   0   0    0    0    0     1      0",
      "example.com  2  1   1   0   0   0    0    0    0     0      0",
      "     (none)  1  0   0   0   0   0    0    0    0     0      1",
      "",
    ].join("\n"),
  );
});

test("shape --by sender counts messages by sender domain; --state and filters choose what is counted", async (t) => {
  const root = await freshDirectory(t);
  const now = await shapedSpool(root);
  const json = async (...argv: string[]) => JSON.parse((await runQueue(["shape", ...argv, "--json"], root, { at: now })).out);
  const bySender = await json("--by", "sender");
  assert.equal(bySender.by, "sender");
  assert.deepEqual(bySender.bucketMinutes, [5, 10, 20, 40, 80, 160, 320, 640, 1280]);
  assert.deepEqual(bySender.total, { domain: "TOTAL", total: 4, buckets: [1, 1, 0, 0, 0, 0, 0, 0, 1, 1] });
  assert.deepEqual(
    bySender.domains.map((row: { domain: string; total: number }) => [row.domain, row.total]),
    [["example.org", 2], ["(none)", 1], ["lists.example.org", 1]],
  );
  const held = await json("--state", "hold");
  assert.deepEqual(held.domains, [{ domain: "example.net", total: 1, buckets: [1, 0, 0, 0, 0, 0, 0, 0, 0, 0] }]);
  const onlyNet = await json("--domain", "example.net");
  assert.deepEqual(onlyNet.total.buckets, [2, 0, 0, 0, 0, 0, 0, 0, 1, 0], "only the recipients the filter names are counted");
  assert.deepEqual(onlyNet.domains.map((row: { domain: string }) => row.domain), ["example.net"]);
  const old = await json("--older-than", "10h");
  assert.equal(old.total.total, 2);
});

test("shape of an empty queue is a TOTAL row of zeros", async (t) => {
  const root = await freshDirectory(t);
  await Spool.open(root);
  const { out } = await runQueue(["shape"], root);
  assert.equal(out.split("\n")[1], "TOTAL  0  0   0   0   0   0    0    0    0     0      0");
});
