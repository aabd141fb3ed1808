// Reads what arrived at the relay load's next hop: the records of smtp-sink's dump (-D), one per message, each
// opening with the sink's own header lines (X-Client-Addr, X-Mail-Args, one X-Rcpt-Args per recipient...).
// smtp-source -N gives every message of a run its own recipient (1recipient@..., 2recipient@..., up to N),
// so "every message answered 250 arrived exactly once" is: each of those N recipients appears once, and
// nothing else does. Pure: it parses and compares, it never reads files.

/** The recipient address of every X-Rcpt-Args line of a dump, in order (without <> and RCPT parameters). */
export function dumpedRecipients(dump: string): string[] {
  const recipients: string[] = [];
  for (const match of dump.matchAll(/^X-Rcpt-Args: <([^>]*)>/gm)) recipients.push(match[1]!);
  return recipients;
}

/** Messages in a dump: each record opens with one X-Client-Addr line. */
export function dumpedMessages(dump: string): number {
  return [...dump.matchAll(/^X-Client-Addr: /gm)].length;
}

export type ArrivalCheck = { readonly messages: number; readonly problems: readonly string[] };

/**
 * Compares the recipients that arrived with the ones smtp-source -N -m `count` -t `recipient` sent: `1recipient`
 * to `<count>recipient`, each exactly once, in one message each. `problems` is empty when all is well; each
 * entry names what went wrong (a few examples of each kind, not thousands).
 */
export function checkArrivals(dump: string, count: number, recipient: string): ArrivalCheck {
  const messages = dumpedMessages(dump);
  const seen = new Map<string, number>();
  for (const address of dumpedRecipients(dump)) seen.set(address, (seen.get(address) ?? 0) + 1);
  const missing: string[] = [];
  const repeated: string[] = [];
  for (let sequence = 1; sequence <= count; sequence++) {
    const address = `${sequence}${recipient}`;
    const times = seen.get(address) ?? 0;
    if (times === 0) missing.push(address);
    else if (times > 1) repeated.push(`${address} (${times} times)`);
    seen.delete(address);
  }
  const unexpected = [...seen.keys()];
  const examples = (list: readonly string[]) => `${list.slice(0, 3).join(", ")}${list.length > 3 ? ", ..." : ""}`;
  const problems: string[] = [];
  if (messages !== count) problems.push(`${messages} messages arrived, ${count} were sent`);
  if (missing.length > 0) problems.push(`${missing.length} recipients never arrived: ${examples(missing)}`);
  if (repeated.length > 0) problems.push(`${repeated.length} recipients arrived more than once: ${examples(repeated)}`);
  if (unexpected.length > 0) problems.push(`${unexpected.length} recipients were not sent in this run: ${examples(unexpected)}`);
  return { messages, problems };
}
