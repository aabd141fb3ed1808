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

/** Where a stage stopped to wait: the rule at `index` returned `pending`. */
type Waiting = { readonly kind: "waiting"; readonly index: number; readonly pending: Promise<unknown> };

export function runStage(rules: readonly LoadedRule[], ctx: RuleClock, timeout: number): StageOutcome | Promise<StageOutcome> {
  const reached = runFrom(rules, 0, ctx);
  return reached.kind === "waiting" ? finishAsync(rules, reached, ctx, timeout) : reached;
}

/** Runs the rules from `start` on until one decides, fails or returns a promise. */
function runFrom(rules: readonly LoadedRule[], start: number, ctx: RuleClock): StageOutcome | Waiting {
  for (let index = start; index < rules.length; index++) {
    const rule = rules[index]!;
    ctx.startRule(rule);
    let result: unknown;
    try {
      result = rule.run(ctx as never);
    } catch (error) {
      return failed(rule, error);
    }
    if (result instanceof Promise) return { kind: "waiting", index, pending: result };
    const outcome = decide(rule, result);
    if (outcome !== null) return outcome;
  }
  return NEXT;
}

/**
 * The rest of a stage once a rule returned a promise: one promise for the stage, and for each asynchronous rule
 * one reaction on its promise and an entry in the deadlines (no wrapper promise, no async function frames: a
 * stage that waits once costs as few turns of the microtask queue as possible).
 */
function finishAsync(rules: readonly LoadedRule[], first: Waiting, ctx: RuleClock, timeout: number): Promise<StageOutcome> {
  return new Promise((resolve) => {
    let waiting = first;
    let deadline: Deadline | null = null;
    /** True when the rule's deadline had not passed yet (its result counts), false when the stage already failed. */
    const inTime = (): boolean => {
      if (deadline === null) return false;
      deadlines.delete(deadline);
      deadline = null;
      return true;
    };
    const carryOn = (reached: StageOutcome | Waiting): void => {
      if (reached.kind !== "waiting") {
        resolve(reached);
        return;
      }
      waiting = reached;
      const rule = rules[reached.index]!;
      deadline = {
        at: performance.now() + timeout,
        expire() {
          inTime();
          const error = new Error(`no verdict within ${timeout} ms (rules.timeout)`);
          error.name = "TimeoutError";
          ctx.expire(error);
          resolve(failed(rule, error));
        },
      };
      deadlines.add(deadline);
      sweeper ??= setInterval(sweep, SWEEP_INTERVAL).unref();
      reached.pending.then(settled, rejected);
    };
    const settled = (result: unknown): void => {
      if (!inTime()) return;
      const outcome = decide(rules[waiting.index]!, result);
      carryOn(outcome ?? runFrom(rules, waiting.index + 1, ctx));
    };
    const rejected = (error: unknown): void => {
      if (inTime()) resolve(failed(rules[waiting.index]!, error));
    };
    carryOn(first);
  });
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

function decide(rule: LoadedRule, result: unknown): StageOutcome | null {
  if (result === undefined) return null;
  if (isVerdict(result)) return { kind: "verdict", verdict: result, rule };
  return { kind: "failed", rule, error: `returned ${describe(result)}, not a verdict (return ctx.accept(), ctx.deny()... or nothing)` };
}

/** The stage's failure for what a rule threw; reading that value must not throw in turn (a getter, a proxy). */
function failed(rule: LoadedRule, error: unknown): StageOutcome {
  let text: string;
  try {
    text = error instanceof Error ? `${error.name}: ${error.message}` : `threw ${describe(error)}`;
  } catch {
    text = "threw a value that cannot be read";
  }
  return { kind: "failed", rule, error: text };
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "object") return "an object";
  return `${typeof value} ${String(value).slice(0, 40)}`;
}
