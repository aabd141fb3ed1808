// Runs one stage's rules in order against a context until one returns a verdict. Each rule runs under a
// deadline (rules.timeout): past it the rule's ctx.signal is aborted and the stage fails. A rule that throws,
// rejects, overruns its deadline or returns something that is not a verdict makes the stage fail: the caller
// answers 451 4.3.0 (fail closed), never accepts. Synchronous rules cost no timer and no promise; only a rule
// that returns a promise makes the rest of the stage asynchronous.

import type { Verdict } from "./api.ts";
import type { LoadedRule } from "./rule-files.ts";
import { isVerdict } from "./verdicts.ts";

export type StageOutcome =
  /** No rule decided: the stage's built-in policy applies. */
  | { readonly kind: "next" }
  | { readonly kind: "verdict"; readonly verdict: Verdict; readonly rule: LoadedRule }
  | { readonly kind: "failed"; readonly rule: LoadedRule; readonly error: string };

/** What the runner needs of a context: a fresh signal per rule, aborted at the rule's deadline. */
export interface RuleClock {
  startRule(rule: LoadedRule): void;
  expire(reason: Error): void;
}

const NEXT: StageOutcome = Object.freeze({ kind: "next" });

export function runStage(rules: readonly LoadedRule[], ctx: RuleClock, timeout: number): StageOutcome | Promise<StageOutcome> {
  for (let index = 0; index < rules.length; index++) {
    const rule = rules[index]!;
    ctx.startRule(rule);
    let result: unknown;
    try {
      result = rule.run(ctx as never);
    } catch (error) {
      return failed(rule, error);
    }
    if (result instanceof Promise) return finishAsync(rules, index, result, ctx, timeout);
    const outcome = decide(rule, result);
    if (outcome !== null) return outcome;
  }
  return NEXT;
}

async function finishAsync(
  rules: readonly LoadedRule[],
  from: number,
  first: Promise<unknown>,
  ctx: RuleClock,
  timeout: number,
): Promise<StageOutcome> {
  let pending: unknown = first;
  for (let index = from; index < rules.length; index++) {
    const rule = rules[index]!;
    if (index > from) {
      ctx.startRule(rule);
      try {
        pending = rule.run(ctx as never);
      } catch (error) {
        return failed(rule, error);
      }
    }
    let result: unknown;
    try {
      result = pending instanceof Promise ? await withDeadline(pending, ctx, timeout) : pending;
    } catch (error) {
      return failed(rule, error);
    }
    const outcome = decide(rule, result);
    if (outcome !== null) return outcome;
  }
  return NEXT;
}

/** Asynchronous rules still running, each with its deadline; one sweeper checks them all. */
type Deadline = { readonly at: number; readonly expire: () => void };
const deadlines = new Set<Deadline>();
let sweeper: NodeJS.Timeout | undefined;
/** How often the sweeper looks: a rule past its deadline fails at most this much later. */
const SWEEP_INTERVAL = 25;

function sweep(): void {
  const now = performance.now();
  for (const deadline of deadlines) if (deadline.at <= now) deadline.expire();
  if (deadlines.size === 0) {
    clearInterval(sweeper);
    sweeper = undefined;
  }
}

/**
 * The rule's promise, or a TimeoutError once `timeout` has passed (ctx.signal aborts then). One interval for
 * the process instead of a timer and a race per rule: an asynchronous rule costs one promise here.
 */
function withDeadline(work: Promise<unknown>, ctx: RuleClock, timeout: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const deadline: Deadline = {
      at: performance.now() + timeout,
      expire() {
        deadlines.delete(deadline);
        const error = new Error(`no verdict within ${timeout} ms (rules.timeout)`);
        error.name = "TimeoutError";
        ctx.expire(error);
        reject(error);
      },
    };
    deadlines.add(deadline);
    sweeper ??= setInterval(sweep, SWEEP_INTERVAL).unref();
    work.then(
      (value) => {
        deadlines.delete(deadline);
        resolve(value);
      },
      (error: unknown) => {
        deadlines.delete(deadline);
        reject(error);
      },
    );
  });
}

function decide(rule: LoadedRule, result: unknown): StageOutcome | null {
  if (result === undefined) return null;
  if (isVerdict(result)) return { kind: "verdict", verdict: result, rule };
  return { kind: "failed", rule, error: `returned ${describe(result)}, not a verdict (return ctx.accept(), ctx.deny()... or nothing)` };
}

function failed(rule: LoadedRule, error: unknown): StageOutcome {
  return { kind: "failed", rule, error: error instanceof Error ? `${error.name}: ${error.message}` : `threw ${describe(error)}` };
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "object") return "an object";
  return `${typeof value} ${String(value).slice(0, 40)}`;
}
