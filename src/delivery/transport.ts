// What a transport is given and what it answers: the recipients of one message that share a next hop, and one
// outcome per recipient. `reached` says whether the destination answered at all; false (no host could be
// reached) pauses the destination for a while (destination-health.ts).

import type { Envelope, SpoolRecipient } from "../queue/envelope.ts";
import type { NextHop } from "./next-hop.ts";
import type { Outcome } from "./outcome.ts";

export type HopDelivery = {
  readonly envelope: Envelope;
  /** The recipients going to this next hop, all pending. */
  readonly recipients: readonly SpoolRecipient[];
  readonly bodyPath: string;
  /** The first `limit` bytes of the body file, read in one go (for a transport that sends a small body whole). */
  readonly readBody?: (limit: number) => Promise<Buffer>;
};

export type HopResult = {
  /** One per recipient, in the order given. */
  readonly outcomes: readonly Outcome[];
  readonly reached: boolean;
};

export interface Transport {
  deliver(hop: NextHop, delivery: HopDelivery): Promise<HopResult>;
}
