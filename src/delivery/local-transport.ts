// The local transport: each recipient's copy into its Maildir or mbox (maildir.ts, mbox.ts), one after the
// other. A mailbox error the mailbox code calls temporary (disk full, a busy lock) defers the copy; any
// other fails it.

import type { NextHop } from "./next-hop.ts";
import { hopLabel } from "./next-hop.ts";
import { deliverToMaildir } from "./maildir.ts";
import { deliverToMbox } from "./mbox.ts";
import { LocalDeliveryError } from "./local-delivery.ts";
import { deferred, failed, type Outcome } from "./outcome.ts";
import type { HopDelivery, HopResult, Transport } from "./transport.ts";

export class LocalTransport implements Transport {
  async deliver(hop: NextHop, delivery: HopDelivery): Promise<HopResult> {
    if (hop.kind !== "maildir" && hop.kind !== "mbox") throw new TypeError(`the local transport cannot take ${hopLabel(hop)}`);
    const outcomes: Outcome[] = [];
    for (const recipient of delivery.recipients) {
      const copy = { queueId: delivery.envelope.id, sender: delivery.envelope.sender, recipient: recipient.address, bodyPath: delivery.bodyPath };
      const remote = hopLabel(hop);
      try {
        if (hop.kind === "maildir") {
          const { file } = await deliverToMaildir(hop.path, copy);
          outcomes.push({ kind: "delivered", status: "2.0.0", diagnostic: `delivered to maildir as ${file}`, remote });
        } else {
          await deliverToMbox(hop.path, copy);
          outcomes.push({ kind: "delivered", status: "2.0.0", diagnostic: "delivered to mbox", remote });
        }
      } catch (error) {
        if (!(error instanceof LocalDeliveryError)) throw error;
        outcomes.push(error.temporary ? deferred(error.status, error.message, remote) : failed(error.status, error.message, remote));
      }
    }
    return { outcomes, reached: true };
  }
}
