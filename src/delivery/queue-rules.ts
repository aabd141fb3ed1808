// What the rules of the stages after the queue may decide, as delivery understands it. The rules themselves
// live in rules/ and are run by the delivery process (server/queue-rule-stages.ts), which hands delivery an
// object of this shape: delivery never imports rules/. postq runs once per message, at its first run; delivery
// runs before each attempt of each recipient.

import type { Envelope, SpoolRecipient } from "../queue/envelope.ts";

/** A rule's refusal as the recipients' outcome: the enhanced status code and the reply's words. */
export type RuleRefusal = { readonly status: string; readonly diagnostic: string };

export type PostqDecision =
  /** Deliver; `skipDeliveryRules`: a faccept, no rule runs again for this message. */
  | { readonly action: "deliver"; readonly skipDeliveryRules: boolean }
  /** deny or reject: every pending recipient fails (a DSN goes to the sender). */
  | ({ readonly action: "fail" } & RuleRefusal)
  /** tempfail, or a rule that failed: every pending recipient waits; postq runs again at the next run. */
  | ({ readonly action: "defer" } & RuleRefusal)
  | { readonly action: "quarantine"; readonly name: string }
  | { readonly action: "discard" };

export type RecipientDecision =
  | { readonly action: "deliver" }
  | ({ readonly action: "fail" } & RuleRefusal)
  | ({ readonly action: "defer" } & RuleRefusal)
  /** Counted as delivered, without a copy and without a DSN. */
  | { readonly action: "discard" }
  /** The whole message goes to the named quarantine. */
  | { readonly action: "quarantine"; readonly name: string };

export interface QueueRules {
  readonly hasPostq: boolean;
  readonly hasDelivery: boolean;
  /** Runs the postq rules; they may change the envelope (sender, recipients, routes) in place. */
  postq(envelope: Envelope): Promise<PostqDecision>;
  /** Runs the delivery rules for one recipient; they may change its route in place. */
  beforeDelivery(envelope: Envelope, recipient: SpoolRecipient): Promise<RecipientDecision>;
}
