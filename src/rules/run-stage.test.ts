import { test } from "node:test";
import assert from "node:assert/strict";
import type { LoadedRule } from "./rule-files.ts";
import { type RuleClock, runStage } from "./run-stage.ts";
import { verdictMethods } from "./verdicts.ts";

/** A context that records the rules it ran and the signals it handed out. */
function clock(): RuleClock & { ran: string[]; expired: Error[]; signal: AbortSignal; controller: AbortController } {
  const ctx = {
    ran: [] as string[],
    expired: [] as Error[],
    controller: new AbortController(),
    get signal() {
      return ctx.controller.signal;
    },
    startRule(rule: LoadedRule) {
      ctx.ran.push(rule.name);
      ctx.controller = new AbortController();
    },
    expire(reason: Error) {
      ctx.expired.push(reason);
      ctx.controller.abort(reason);
    },
  };
  return ctx;
}

function rule(name: string, run: (ctx: never) => unknown): LoadedRule {
  return { name, file: "/rules.ts", stage: "mail", run };
}

test("synchronous rules run in order until one returns a verdict; no promise when none is async", () => {
  const ctx = clock();
  const outcome = runStage([rule("a", () => undefined), rule("b", () => verdictMethods.accept()), rule("c", () => verdictMethods.deny())], ctx, 1000);
  assert.ok(!(outcome instanceof Promise));
  assert.deepEqual(ctx.ran, ["a", "b"]);
  assert.equal(outcome.kind === "verdict" && outcome.verdict.kind, "accept");
  assert.equal(outcome.kind === "verdict" && outcome.rule.name, "b");
});

test("no verdict from any rule: next", () => {
  assert.deepEqual(runStage([rule("a", () => undefined)], clock(), 1000), { kind: "next" });
  assert.deepEqual(runStage([], clock(), 1000), { kind: "next" });
});

test("an async rule makes the rest asynchronous; later synchronous rules still run in order", async () => {
  const ctx = clock();
  const outcome = runStage(
    [rule("a", async () => undefined), rule("b", () => undefined), rule("c", async () => verdictMethods.reject("no"))],
    ctx,
    1000,
  );
  assert.ok(outcome instanceof Promise);
  const settled = await outcome;
  assert.deepEqual(ctx.ran, ["a", "b", "c"]);
  assert.equal(settled.kind === "verdict" && settled.verdict.reply?.text, "no");
});

test("a throw, a rejection, or a value that is not a verdict fails the stage, naming the rule", async () => {
  const boom = rule("boom", () => {
    throw new RangeError("bad");
  });
  const thrown = runStage([boom], clock(), 1000);
  assert.deepEqual(thrown, { kind: "failed", rule: boom, error: "RangeError: bad" });
  const rejected = await runStage([rule("later", async () => Promise.reject(new Error("nope")))], clock(), 1000);
  assert.equal(rejected.kind === "failed" && rejected.error, "Error: nope");
  const forged = await runStage([rule("forged", () => ({ kind: "accept" }))], clock(), 1000);
  assert.match(forged.kind === "failed" ? forged.error : "", /returned an object, not a verdict/);
  const thrownString = await runStage(
    [
      rule("odd", () => {
        throw "text";
      }),
    ],
    clock(),
    1000,
  );
  assert.match(thrownString.kind === "failed" ? thrownString.error : "", /threw string text/);
});

test("a rule past the deadline fails the stage and its signal is aborted", async () => {
  const ctx = clock();
  let seen: AbortSignal | null = null;
  const outcome = await runStage(
    [
      rule("slow", (c: never) => {
        seen = (c as { signal: AbortSignal }).signal;
        return new Promise(() => {});
      }),
    ],
    ctx,
    30,
  );
  assert.match(outcome.kind === "failed" ? outcome.error : "", /TimeoutError: no verdict within 30 ms/);
  assert.equal((seen as AbortSignal | null)?.aborted, true);
  assert.equal(ctx.expired.length, 1);
});

test("a rule that throws or rejects with a value that cannot be read (a throwing getter, a hostile proxy) still fails the stage", async () => {
  const unreadable = Object.create(Error.prototype, {
    message: {
      get() {
        throw new Error("no message for you");
      },
    },
  }) as Error;
  const hostile = new Proxy(
    {},
    {
      getPrototypeOf() {
        throw new Error("no prototype for you");
      },
    },
  );
  for (const value of [unreadable, hostile]) {
    const throws = rule("throws", () => {
      throw value;
    });
    assert.deepEqual(runStage([throws], clock(), 1000), { kind: "failed", rule: throws, error: "threw a value that cannot be read" });
    const rejected = await runStage([rule("rejects", async () => Promise.reject(value))], clock(), 1000);
    assert.deepEqual(rejected.kind === "failed" && rejected.error, "threw a value that cannot be read");
  }
});

