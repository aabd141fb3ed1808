// Recipient quota: at most N messages per recipient of our domains per hour, against mail bombs and runaway
// scripts. Past the quota, further RCPTs for that address get "452 4.2.2" (a temporary refusal: the sending
// server keeps the message and retries later, when the window has moved on).
//
// A sliding window: each accepted RCPT is a timestamp, and only those of the last hour count. It is counted at
// RCPT, so a message the client abandons after RCPT still counts; a refused RCPT does not.
//
// The counts live in memory, in each worker process of its own: with server.workers = 4 a recipient may get
// up to 4 × N messages an hour, and the counts start again when Petrel restarts or reloads its configuration
// (a reload imports rule files afresh). For one count across workers and restarts, keep it in a shared store.
//
// Settings ([rules.settings]):
//   recipient_quota = 200   messages per recipient per hour (default: 200)

import { defineRules, numberSetting } from "petrel/rules";

const WINDOW_MS = 60 * 60 * 1000;

/** Recipient address → the times (ms) of its RCPTs within the window, oldest first. */
const recent = new Map<string, number[]>();
let lastSweep = 0;

/** Forgets addresses with no RCPT in the window, once per window, so that the map does not grow for ever. */
function sweep(now: number): void {
  if (now - lastSweep < WINDOW_MS) return;
  lastSweep = now;
  for (const [address, times] of recent) {
    if ((times.at(-1) ?? 0) <= now - WINDOW_MS) recent.delete(address);
  }
}

export default defineRules({
  rcpt: [
    function recipientQuota(ctx) {
      if (!ctx.rcpt.isLocal) return; // mail for other domains is theirs to limit
      const quota = numberSetting(ctx.settings, "recipient_quota", 200, { min: 1, integer: true });
      const now = ctx.now.getTime();
      sweep(now);
      const address = ctx.rcpt.address.toLowerCase();
      const times = (recent.get(address) ?? []).filter((time) => time > now - WINDOW_MS);
      if (times.length >= quota) {
        recent.set(address, times);
        ctx.log.info("recipient over quota", { recipient: address, quota, client: ctx.connection.client.address });
        return ctx.tempfail(452, "4.2.2", `${address} has received too many messages this hour, try again later`);
      }
      times.push(now);
      recent.set(address, times);
    },
  ],
});
