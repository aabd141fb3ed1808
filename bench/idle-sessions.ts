// The idle-session memory check: open many SMTP connections, wait for each greeting, hold them all open
// for a measuring window, and report how much the resident memory of all the server's processes rose.
// It must never leave a connection open when it returns, whether the check passed or failed.

import { setTimeout as delay } from "node:timers/promises";
import { readResidentSet, sampleDuring, totalOf } from "./rss-sampler.ts";
import { describeReply, SmtpConversation } from "./smtp-conversation.ts";
import type { MailServer } from "./throughput.ts";

const OPENING_BATCH = 50; // connections opened at a time, well under any listen backlog
const OPENING_TIMEOUT_MS = 30_000; // for all of them together

export type IdleSessionsResult = { sessions: number; increase: number };

/** Opens `sessions` connections, each greeted with 220, and holds them for `holdMs`; closes them all at the end. */
async function openAndHold(port: number, sessions: number, holdMs: number): Promise<void> {
  const open: SmtpConversation[] = [];
  // Aborts (destroys) the sessions only while they are being opened; once all are greeted it never fires.
  const opening = new AbortController();
  const timer = setTimeout(() => opening.abort(), OPENING_TIMEOUT_MS);
  try {
    while (open.length < sessions) {
      const batch = Math.min(OPENING_BATCH, sessions - open.length);
      const opened = await Promise.allSettled(Array.from({ length: batch }, () => SmtpConversation.open(port, opening.signal)));
      for (const outcome of opened) if (outcome.status === "fulfilled") open.push(outcome.value.conversation);
      for (const outcome of opened) {
        if (outcome.status === "rejected") {
          const why = opening.signal.aborted ? `not all greeted within ${OPENING_TIMEOUT_MS} ms` : String(outcome.reason);
          throw new Error(`opening ${sessions} idle sessions failed after ${open.length}: ${why}`);
        }
        const { greeting } = outcome.value;
        if (greeting.code !== 220) throw new Error(`a session of ${sessions} was greeted with ${describeReply(greeting)}`);
      }
    }
    clearTimeout(timer);
    // The measuring window: the sessions stay idle while the sampler watches the server settle.
    await delay(holdMs);
    const dropped = open.filter((conversation) => conversation.ended).length;
    if (dropped > 0) throw new Error(`the server closed ${dropped} of ${sessions} idle sessions within ${holdMs} ms`);
  } finally {
    clearTimeout(timer);
    await Promise.all(open.map((conversation) => conversation.quit()));
  }
}

export async function measureIdleSessions(
  server: MailServer & { mainPid: number },
  sessions: number,
  holdMs: number,
): Promise<IdleSessionsResult> {
  const baseline = totalOf(await readResidentSet(server.mainPid));
  const { peaks } = await sampleDuring([server.mainPid], () => openAndHold(server.port, sessions, holdMs));
  return { sessions, increase: peaks[0]!.peakTotal - baseline };
}
