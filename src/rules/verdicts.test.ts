import { test } from "node:test";
import assert from "node:assert/strict";
import { isVerdict, verdictMethods as ctx } from "./verdicts.ts";

test("verdicts carry their reply; text alone leaves the codes to the stage", () => {
  assert.deepEqual(ctx.deny(554, "5.7.1", "go away").reply, { code: 554, enhanced: "5.7.1", text: "go away" });
  assert.deepEqual(ctx.reject("not here").reply, { text: "not here" });
  assert.equal(ctx.tempfail().reply, undefined);
  assert.equal(ctx.quarantine("spam-2").name, "spam-2");
  assert.ok(isVerdict(ctx.accept()) && isVerdict(ctx.discard()) && isVerdict(ctx.delegate("policy")));
  assert.ok(!isVerdict({ kind: "accept" }), "a look-alike object is not a verdict");
});

test("a reply of the wrong class, a malformed enhanced code, a line break or a bad name throws", () => {
  assert.throws(() => ctx.deny(250, "2.0.0", "fine"), /code 250 is not a 5xx reply/);
  assert.throws(() => ctx.tempfail(550, "5.7.1", "x"), /not a 4xx reply/);
  assert.throws(() => ctx.reject(550, "4.7.1", "x"), /"4\.7\.1" is not 5\.x\.y/);
  assert.throws(() => ctx.reject(550, "5.7", "x"), /RFC 3463/);
  assert.throws(() => ctx.deny("two\r\nlines"), /one line/);
  assert.throws(() => ctx.quarantine("../etc"), /is not a name/);
  assert.throws(() => ctx.delegate(""), /is not a name/);
});
