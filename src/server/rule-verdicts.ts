// What a stage's rules decided means for the SMTP session: the one table of each verdict's effect at each
// stage (docs/rules.md says the same in words). A rule that failed (threw, timed out, returned something
// else) fails closed: 451 4.3.0, or 421 4.3.0 and close at connect, never an accept. This file replies
// nothing itself: it hands the session a Decision, and logs which rule decided.

import type { Stage, Verdict } from "../rules/api.ts";
import type { StageOutcome } from "../rules/run-stage.ts";
import { reply, type Reply } from "../smtp/reply.ts";
import type { Session } from "./session.ts";

export type Decision =
  /** Go on; `policy`: the stage's built-in policy (relay control, sender ownership) still applies. */
  | { readonly action: "continue"; readonly policy: boolean }
  /** Refuse with this reply; `close`: end the session after it. */
  | { readonly action: "refuse"; readonly reply: Reply; readonly close: boolean }
  /** Take the message (reply as if queued) but keep it in the named quarantine, or keep nothing. */
  | { readonly action: "quarantine"; readonly name: string }
  | { readonly action: "discard" };

export const CONTINUE: Decision = Object.freeze({ action: "continue", policy: true });
const ACCEPTED: Decision = Object.freeze({ action: "continue", policy: false });

/** Default replies per stage, used when a rule gives only text (or nothing). */
const denied: { readonly [S in Stage]: Reply } = {
  connect: reply(554, "5.7.1", "access denied"),
  helo: reply(550, "5.7.1", "HELO refused by policy"),
  auth: reply(535, "5.7.8", "authentication refused by policy"),
  mail: reply(550, "5.7.1", "sender refused by policy"),
  rcpt: reply(550, "5.7.1", "recipient refused by policy"),
  preq: reply(550, "5.7.1", "message refused by policy"),
  postq: reply(550, "5.7.1", "message refused by policy"),
  delivery: reply(550, "5.7.1", "delivery refused by policy"),
};

const deferred: { readonly [S in Stage]: Reply } = {
  connect: reply(421, "4.7.0", "try again later"),
  helo: reply(451, "4.7.1", "try again later"),
  auth: reply(454, "4.7.0", "temporary authentication failure"),
  mail: reply(451, "4.7.1", "try again later"),
  rcpt: reply(451, "4.7.1", "try again later"),
  preq: reply(451, "4.7.1", "try again later"),
  postq: reply(451, "4.7.1", "try again later"),
  delivery: reply(451, "4.7.1", "try again later"),
};

const ruleFailed = reply(451, "4.3.0", "temporary local problem, try again later");
const ruleFailedAtConnect = reply(421, "4.3.0", "temporary local problem, try again later");

const messageStages: ReadonlySet<Stage> = new Set(["mail", "rcpt", "preq", "postq"]);

function replyFor(verdict: Verdict, fallback: Reply, stage: Stage): Reply {
  const given = verdict.reply;
  if (given === undefined) return fallback;
  // At connect a temporary refusal must be 421: the server closes the connection (RFC 5321 §3.8).
  const code = stage === "connect" && verdict.kind === "tempfail" ? 421 : (given.code ?? fallback.code);
  const enhanced = given.enhanced ?? fallback.enhanced;
  return reply(code, enhanced !== undefined && enhanced[0] === String(code)[0] ? enhanced : undefined, given.text);
}

/** The reply a deny, reject or tempfail verdict stands for at `stage` (its own, or the stage's default). */
export function verdictReply(verdict: Verdict, stage: Stage): Reply {
  return replyFor(verdict, verdict.kind === "tempfail" ? deferred[stage] : denied[stage], stage);
}

/** Logs the outcome and turns it into what the session does next. */
export function decide(session: Session, stage: Stage, outcome: StageOutcome): Decision {
  if (outcome.kind === "next") {
    if (session.noting("debug")) session.note("debug", { event: "rule-verdict", stage, verdict: "next" }, "no rule decided");
    return CONTINUE;
  }
  const { rule } = outcome;
  if (outcome.kind === "failed") return failed(session, stage, rule.name, rule.file, outcome.error);
  const { verdict } = outcome;
  session.note("info", { event: "rule-verdict", stage, rule: rule.name, file: rule.file, verdict: verdict.kind, name: verdict.name }, "rule verdict");
  switch (verdict.kind) {
    case "accept":
      return ACCEPTED;
    case "faccept":
      session.skipRules();
      return ACCEPTED;
    case "deny":
      return { action: "refuse", reply: replyFor(verdict, denied[stage], stage), close: stage !== "preq" };
    case "reject":
      return { action: "refuse", reply: replyFor(verdict, denied[stage], stage), close: stage === "connect" };
    case "tempfail":
      return { action: "refuse", reply: replyFor(verdict, deferred[stage], stage), close: stage === "connect" };
    case "quarantine":
    case "discard":
      if (!messageStages.has(stage)) return failed(session, stage, rule.name, rule.file, `${verdict.kind} is for messages: not at ${stage}`);
      return verdict.kind === "discard" ? { action: "discard" } : { action: "quarantine", name: verdict.name! };
    case "delegate":
      return failed(session, stage, rule.name, rule.file, `delegate(${verdict.name}): no such service (services are not available yet)`);
  }
}

/** A stage that failed: logged with what failed, answered 451 4.3.0 (421 and close at connect). */
export function failed(session: Session, stage: Stage, rule: string, file: string, error: string): Decision {
  session.note("error", { event: "rule-failed", stage, rule, file, error }, "rule failed: failing closed");
  const atConnect = stage === "connect";
  return { action: "refuse", reply: atConnect ? ruleFailedAtConnect : ruleFailed, close: atConnect };
}
