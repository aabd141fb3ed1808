// One delivery run of one message, which the scheduler has moved to active/: at its first run the postq rules
// decide (deliver, fail, defer, quarantine, discard); then every pending recipient, after its delivery rules, is routed,
// the recipients that share a next hop go in one transaction (each next hop at once, within the delivery
// slots), and every outcome is written into the envelope before the run goes on, so that a crash never
// delivers twice to a recipient recorded as delivered. Then the reports (DSNs) due are queued, and the message
// is removed (nothing pending) or deferred to its next attempt, returned to its sender once it has outlived
// delivery.max_lifetime. One log line per recipient and attempt, written once the outcome it tells is on disk (a
// "delivered" line never names a recipient that a crash would deliver again).

import type { Logger } from "pino";
import type { AttemptRecord, Envelope, SpoolRecipient } from "../queue/envelope.ts";
import type { Spool } from "../queue/spool.ts";
import type { DeliverySlots } from "./delivery-slots.ts";
import type { DestinationHealth } from "./destination-health.ts";
import { hopKey, hopLabel, type NextHop } from "./next-hop.ts";
import { dsnDue } from "./dsn.ts";
import { failed, type Outcome } from "./outcome.ts";
import { type FinalAction, type ReportSettings, reportDelay, reportFinal } from "./reports.ts";
import { delayWarningDue, expired, type RetrySettings, retryDelay } from "./retry-policy.ts";
import type { QueueRules, RuleRefusal } from "./queue-rules.ts";
import type { Router } from "./router.ts";
import type { Transport } from "./transport.ts";

export type RunParts = {
  readonly spool: Spool;
  readonly router: Router;
  readonly transports: { readonly local: Transport; readonly smtp: Transport };
  readonly slots: DeliverySlots;
  readonly health: DestinationHealth;
  readonly retry: RetrySettings;
  readonly reports: ReportSettings;
  readonly log: Logger;
  readonly now: () => number;
  /** The postq and delivery rules; none: every message is delivered as routed. */
  readonly rules?: QueueRules;
};

/**
 * Milliseconds a message's move into active/ (the scheduler's) and its removal once delivered may wait for other
 * messages' to be made with them as one batch: one trip to a spool file thread and one fsync per folder for all
 * (queue/batch-window.ts). Nobody waits on a delivery run; made one by one, they cost the event loop five trips
 * through libuv's pool and a folder fsync or two per message (docs/performance.md, "Delivery (issue 5)").
 */
export const SPOOL_BATCH_WINDOW = 10;

/** How a run ended: the message left the queue (delivered, discarded, quarantined), or waits in deferred/ until `nextAttemptAt` (ms). */
export type RunResult = { readonly removed: true } | { readonly removed: false; readonly nextAttemptAt: number };

type Group = { readonly hop: NextHop; readonly recipients: SpoolRecipient[] };

/** Attempt lines held back until the outcomes they tell are saved (logAll). */
type HeldLines = Array<() => void>;

export async function runMessage(parts: RunParts, envelope: Envelope): Promise<RunResult> {
  const lines: HeldLines = [];
  try {
    return await run(parts, envelope, lines);
  } finally {
    logAll(lines); // saved by the run's last step (removed, deferred, quarantined), or the run failed
  }
}

function logAll(lines: HeldLines): void {
  for (const line of lines.splice(0)) line();
}

async function run(parts: RunParts, envelope: Envelope, lines: HeldLines): Promise<RunResult> {
  const started = parts.now();
  const finals = new Map<SpoolRecipient, FinalAction>();
  const groups = new Map<string, Group>();
  const { rules } = parts;
  /** false once postq has failed or deferred every pending recipient: nothing goes out in this run. */
  let deliverNow = true;
  if (rules?.hasPostq === true && envelope.postq === undefined && envelope.recipients.some((recipient) => recipient.status === "pending")) {
    const decision = await rules.postq(envelope);
    if (decision.action === "quarantine") return quarantine(parts, envelope, decision.name);
    if (decision.action === "discard") {
      parts.log.info({ event: "discarded", queueId: envelope.id, stage: "postq" }, "message discarded by a postq rule");
      await parts.spool.remove("active", envelope.id);
      return { removed: true };
    }
    if (decision.action === "deliver") envelope.postq = decision.skipDeliveryRules ? "faccept" : "done";
    else {
      deliverNow = false;
      for (const recipient of envelope.recipients) {
        if (recipient.status === "pending") record(parts, envelope, recipient, ruleOutcome(decision.action, decision), "(postq rules)", finals, lines, false);
      }
    }
  }
  for (const recipient of envelope.recipients) {
    if (recipient.status !== "pending") {
      if (recipient.reported !== true) finals.set(recipient, recipient.status === "delivered" ? "delivered" : "failed");
      continue;
    }
    if (!deliverNow) continue;
    if (rules?.hasDelivery === true && envelope.postq !== "faccept") {
      const decision = await rules.beforeDelivery(envelope, recipient);
      if (decision.action === "quarantine") return quarantine(parts, envelope, decision.name);
      if (decision.action === "discard") {
        record(parts, envelope, recipient, { kind: "delivered", status: "2.0.0", diagnostic: "discarded by a delivery rule" }, "(delivery rules)", finals, lines, false);
        finals.delete(recipient); // discarded quietly: no notice, even under NOTIFY=SUCCESS
        recipient.reported = true;
        continue;
      }
      if (decision.action !== "deliver") {
        record(parts, envelope, recipient, ruleOutcome(decision.action, decision), "(delivery rules)", finals, lines, false);
        continue;
      }
    }
    let routed: ReturnType<Router["route"]>;
    try {
      routed = parts.router.route(recipient);
    } catch (error) {
      // A route the router cannot read (a rule's URL it does not take): the recipient waits, and is returned at
      // max_lifetime with this reason, instead of a run that throws for ever.
      routed = { refused: { kind: "deferred", status: "4.3.5", diagnostic: `cannot route <${recipient.address}>: ${(error as Error).message}` } };
    }
    if ("refused" in routed) {
      record(parts, envelope, recipient, routed.refused, "(no route)", finals, lines);
      continue;
    }
    const key = hopKey(routed.hop);
    const group = groups.get(key) ?? { hop: routed.hop, recipients: [] };
    group.recipients.push(recipient);
    groups.set(key, group);
  }

  // Outcomes are saved as each next hop finishes; saves of one message never overlap.
  let saving: Promise<void> = Promise.resolve();
  let open = groups.size;
  await Promise.all(
    [...groups].map(async ([key, group]) => {
      const { outcomes, tried } = await deliverGroup(parts, envelope, key, group);
      for (const [index, recipient] of group.recipients.entries()) record(parts, envelope, recipient, outcomes[index]!, hopLabel(group.hop), finals, lines, tried);
      open -= 1;
      if (open > 0 && outcomes.some((outcome) => outcome.kind === "delivered")) {
        const snapshot = structuredClone(envelope);
        const saved = lines.splice(0);
        saving = saving.then(() => parts.spool.rewrite("active", snapshot));
        try {
          await saving;
        } finally {
          logAll(saved);
        }
      }
    }),
  );
  await saving;

  const now = parts.now();
  if (expired(parts.retry, Date.parse(envelope.receivedAt), now)) {
    for (const recipient of envelope.recipients) {
      if (recipient.status !== "pending") continue;
      const why = recipient.last === undefined ? "" : `; last error: ${recipient.last.diagnostic}`;
      record(parts, envelope, recipient, failed("5.4.7", `the message outlived delivery.max_lifetime${why}`, recipient.last?.remote), "(expired)", finals, lines, false);
    }
  }
  if (envelope.sender !== "" && [...finals].some(([recipient, action]) => dsnDue(recipient.notify, action))) {
    // The outcomes are on disk before a report says them: a crash in between then cannot deliver again.
    await parts.spool.rewrite("active", envelope);
    logAll(lines);
    await report(parts, envelope, finals, now);
  }
  for (const recipient of finals.keys()) recipient.reported = true;

  if (envelope.recipients.every((recipient) => recipient.status !== "pending")) {
    await parts.spool.remove("active", envelope.id, { window: SPOOL_BATCH_WINDOW });
    return { removed: true };
  }
  const runs = (envelope.schedule?.runs ?? 0) + 1;
  const nextAttemptAt = now + retryDelay(parts.retry, runs);
  envelope.schedule = { ...envelope.schedule, runs, nextAttemptAt: new Date(nextAttemptAt).toISOString() };
  if (envelope.sender !== "" && envelope.schedule.delayWarnedAt === undefined && delayWarningDue(parts.retry, Date.parse(envelope.receivedAt), now)) {
    const until = new Date(Date.parse(envelope.receivedAt) + parts.retry.maxLifetime);
    const id = await reportDelay(parts.spool, parts.reports, envelope, until, new Date(now));
    envelope.schedule.delayWarnedAt = new Date(now).toISOString();
    if (id !== null) parts.log.info({ event: "dsn", queueId: envelope.id, dsn: id, action: "delayed" }, "delay warning queued");
  }
  await parts.spool.rewrite("active", envelope);
  await parts.spool.move(envelope.id, "active", "deferred");
  parts.log.debug({ queueId: envelope.id, ms: now - started, nextAttemptAt: envelope.schedule.nextAttemptAt }, "message deferred");
  return { removed: false, nextAttemptAt };
}

/** A rule's refusal as an outcome: failed (deny, reject) or deferred (tempfail, a rule that failed). */
function ruleOutcome(action: "fail" | "defer", refusal: RuleRefusal): Outcome {
  return { kind: action === "fail" ? "failed" : "deferred", status: refusal.status, diagnostic: refusal.diagnostic };
}

/** Moves the message into the named quarantine (a rule's verdict); it leaves the scheduler's states. */
async function quarantine(parts: RunParts, envelope: Envelope, name: string): Promise<RunResult> {
  envelope.quarantine = name;
  await parts.spool.rewrite("active", envelope);
  await parts.spool.move(envelope.id, "active", "quarantine");
  parts.log.info({ event: "quarantined", queueId: envelope.id, quarantine: name }, "message quarantined by a rule");
  return { removed: true };
}

/**
 * One next hop's transaction, in a delivery slot, unless the destination is down: then the recipients get the
 * destination's last error without a try (`tried` false: not counted as an attempt).
 */
async function deliverGroup(parts: RunParts, envelope: Envelope, key: string, group: Group): Promise<{ outcomes: readonly Outcome[]; tried: boolean }> {
  const asked = envelope.retryAskedAt === undefined ? undefined : Date.parse(envelope.retryAskedAt);
  const paused = parts.health.check(key, parts.now(), asked);
  if (paused !== undefined) return { outcomes: group.recipients.map(() => paused), tried: false };
  const release = await parts.slots.acquire(key);
  try {
    const transport = group.hop.kind === "maildir" || group.hop.kind === "mbox" ? parts.transports.local : parts.transports.smtp;
    const result = await transport.deliver(group.hop, {
      envelope,
      recipients: group.recipients,
      bodyPath: parts.spool.bodyPath(envelope.id),
      readBody: (limit) => parts.spool.readBody(envelope.id, limit),
    });
    if (result.reached) parts.health.markUp(key);
    else parts.health.markDown(key, parts.now(), parts.now() + parts.retry.retryMin, result.outcomes[0]!);
    return { outcomes: result.outcomes, tried: true };
  } catch (error) {
    // A transport that throws has a bug or met the unexpected: the recipients wait, the log says why.
    parts.log.error({ err: error, queueId: envelope.id, route: hopLabel(group.hop) }, "delivery failed unexpectedly");
    const outcome: Outcome = { kind: "deferred", status: "4.3.0", diagnostic: `local error in delivery: ${(error as Error).message}` };
    return { outcomes: group.recipients.map(() => outcome), tried: true };
  } finally {
    release();
  }
}

/** Writes an outcome into the recipient (in memory); the attempt's log line waits in `lines` until it is saved. */
function record(
  parts: RunParts,
  envelope: Envelope,
  recipient: SpoolRecipient,
  outcome: Outcome,
  route: string,
  finals: Map<SpoolRecipient, FinalAction>,
  lines: HeldLines,
  attempted = true,
): void {
  const now = parts.now();
  const last: AttemptRecord = { at: new Date(now).toISOString(), status: outcome.status, diagnostic: outcome.diagnostic, ...(outcome.remote === undefined ? {} : { remote: outcome.remote }) };
  if (attempted) recipient.attempts = (recipient.attempts ?? 0) + 1;
  recipient.last = last;
  if (outcome.kind === "delivered") {
    recipient.status = "delivered";
    // A remote that offered DSN got NOTIFY and owes any success notice itself; one that did not: "relayed".
    // Mailboxes and LMTP servers (over TCP too) make the final delivery: "delivered".
    const local = outcome.remote === undefined || !outcome.remote.includes("[") || route.startsWith("lmtp://");
    if (outcome.dsnPassedOn !== true) finals.set(recipient, local ? "delivered" : "relayed");
    else recipient.reported = true;
  } else if (outcome.kind === "failed") {
    recipient.status = "failed";
    finals.set(recipient, "failed");
  }
  const level = outcome.kind === "delivered" ? "info" : "warn";
  const fields = {
    event: "delivery",
    queueId: envelope.id,
    recipient: recipient.address,
    route,
    result: outcome.kind,
    status: outcome.status,
    remote: outcome.remote,
    reply: outcome.diagnostic,
    attempt: recipient.attempts ?? 0,
    delay: Math.round((now - Date.parse(envelope.receivedAt)) / 100) / 10,
  };
  lines.push(() => parts.log[level](fields, `${outcome.kind} ${recipient.address}`));
}

/** Queues the report for final outcomes not yet reported. */
async function report(parts: RunParts, envelope: Envelope, finals: ReadonlyMap<SpoolRecipient, FinalAction>, now: number): Promise<void> {
  const id = await reportFinal(parts.spool, parts.reports, envelope, finals, new Date(now));
  if (id !== null) {
    const actions = [...new Set([...finals].filter(([recipient, action]) => dsnDue(recipient.notify, action)).map(([, action]) => action))];
    parts.log.info({ event: "dsn", queueId: envelope.id, dsn: id, action: actions.join(",") }, "delivery status notification queued");
  }
}
