// The part of `petrel rules test` after the queue: the queued message goes through the postq rules and, for each
// recipient still to deliver, the delivery rules, as the delivery process would run them (server/queue-rule-stages.ts),
// and the router says where each copy would go. Nothing is delivered and no DSN is sent: the trial prints what
// would happen, with the rule verdicts under each line.

import type { Config } from "../config/schema.ts";
import type { PostqDecision, RecipientDecision } from "../delivery/queue-rules.ts";
import { hopLabel } from "../delivery/next-hop.ts";
import { Router } from "../delivery/router.ts";
import type { Logger } from "../log/logs.ts";
import type { Spool } from "../queue/spool.ts";
import { loadRuleFiles } from "../rules/rule-files.ts";
import { QueueRuleStages } from "../server/queue-rule-stages.ts";

type Print = (line: string) => Promise<void>;

/** Runs the stages after the queue for every message the trial queued; `print` adds the rule verdicts logged since. */
export async function afterQueue(config: Config, spool: Spool, log: Logger, print: Print): Promise<void> {
  const ids = await spool.ids("incoming");
  if (ids.length === 0) return;
  const stages = new QueueRuleStages(await loadRuleFiles(config.rules.files), spool, config, log);
  const router = new Router(config);
  for (const id of ids) {
    const envelope = await spool.read("incoming", id);
    if (envelope === null) continue;
    await print(`\nafter the queue, ${id} (nothing is delivered):`);
    let skipDeliveryRules = false;
    if (stages.hasPostq) {
      const decision = await stages.postq(envelope);
      await print(`  postq: ${postqText(decision)}`);
      if (decision.action !== "deliver") continue;
      skipDeliveryRules = decision.skipDeliveryRules;
    }
    for (const recipient of envelope.recipients.filter((entry) => entry.status === "pending")) {
      const decision: RecipientDecision =
        stages.hasDelivery && !skipDeliveryRules ? await stages.beforeDelivery(envelope, recipient) : { action: "deliver" };
      if (decision.action !== "deliver") {
        await print(`  delivery <${recipient.address}>: ${recipientText(decision)}`);
        continue;
      }
      const routed = router.route(recipient);
      const where = "hop" in routed ? `to ${hopLabel(routed.hop)}` : `fails: ${said(routed.refused)}`;
      await print(`  delivery <${recipient.address}>: deliver ${where}`);
    }
  }
}

function postqText(decision: PostqDecision): string {
  switch (decision.action) {
    case "deliver":
      return decision.skipDeliveryRules ? "deliver (faccept: no delivery rule runs for it)" : "deliver";
    case "fail":
      return `every recipient fails, a DSN goes to the sender: ${said(decision)}`;
    case "defer":
      return `every recipient waits, postq runs again at the next try: ${said(decision)}`;
    case "quarantine":
      return `quarantined (${decision.name})`;
    case "discard":
      return "discarded: no copy, no DSN";
  }
}

function recipientText(decision: Exclude<RecipientDecision, { action: "deliver" }>): string {
  switch (decision.action) {
    case "fail":
      return `fails, a DSN goes to the sender: ${said(decision)}`;
    case "defer":
      return `waits for the next try: ${said(decision)}`;
    case "discard":
      return "discarded: counted as delivered, no copy";
    case "quarantine":
      return `the whole message is quarantined (${decision.name})`;
  }
}

/** The words of a refusal, with its status code once (a rule's reply text already has it). */
function said({ status, diagnostic }: { readonly status: string; readonly diagnostic: string }): string {
  return diagnostic.includes(status) ? diagnostic : `${status} ${diagnostic}`;
}
