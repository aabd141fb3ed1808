// Which messages a `petrel queue` command is about: every message of some states that meets the filters, or one
// message found by its queue id in whichever state it is. corrupt/ is read with its unreadable files too, so the
// administrator sees (and can remove) everything recovery set aside. This file only reads the spool.

import type { CorruptEntry, Envelope, Spool, SpoolRecipient, State } from "../queue/spool.ts";
import { SpoolError } from "../queue/spool.ts";
import { isSafeId, spoolStates } from "../queue/spool-layout.ts";
import type { AddressPattern, QueueFilters } from "./queue-arguments.ts";

/** One message as `petrel queue` sees it; in corrupt/ the envelope may be unreadable (null, with the problem). */
export type QueueEntry =
  | { readonly id: string; readonly state: State; readonly envelope: Envelope }
  | { readonly id: string; readonly state: State; readonly envelope: null; readonly problem: string };

/** The messages in `states` (spool order: state, then arrival) that meet every filter. */
export async function selectEntries(spool: Spool, states: readonly State[], filters: QueueFilters, now: number): Promise<QueueEntry[]> {
  const wanted = filters.states === undefined ? states : states.filter((state) => filters.states!.includes(state));
  const entries: QueueEntry[] = [];
  const live = wanted.filter((state) => state !== "corrupt");
  for await (const { id, state, envelope } of spool.list(live)) {
    const entry = { id, state, envelope };
    if (matches(entry, filters, now)) entries.push(entry);
  }
  if (wanted.includes("corrupt")) {
    for await (const corrupt of spool.corrupt()) {
      const entry = corruptEntry(corrupt);
      if (matches(entry, filters, now)) entries.push(entry);
    }
  }
  return entries;
}

/**
 * The message named `id` in whichever state it is, or null if there is none. A name like `01ABC.1` is looked for in
 * corrupt/ only (recovery's name for a second copy); a damaged envelope is returned as unreadable, not thrown.
 */
export async function locate(spool: Spool, id: string): Promise<QueueEntry | null> {
  if (!isSafeId(id)) {
    for await (const corrupt of spool.corrupt()) if (corrupt.name === id) return corruptEntry(corrupt);
    return null;
  }
  // Two passes: a message moved by another process during the first one is found in the second.
  for (let pass = 0; pass < 2; pass++) {
    for (const state of spoolStates) {
      try {
        const envelope = await spool.read(state, id);
        if (envelope !== null) return { id, state, envelope };
      } catch (error) {
        if (!(error instanceof SpoolError && error.code === "SPOOL_DAMAGED")) throw error;
        return { id, state, envelope: null, problem: error.message };
      }
    }
  }
  return null;
}

/** Whether the entry meets every filter; an unreadable envelope meets only the state filter. */
export function matches(entry: QueueEntry, filters: QueueFilters, now: number): boolean {
  if (filters.states !== undefined && !filters.states.includes(entry.state)) return false;
  const { envelope } = entry;
  if (envelope === null) {
    return filters.sender === undefined && filters.recipient === undefined && filters.domain === undefined &&
      filters.olderThan === undefined && filters.youngerThan === undefined;
  }
  const age = now - Date.parse(envelope.receivedAt);
  if (filters.olderThan !== undefined && !(age > filters.olderThan)) return false;
  if (filters.youngerThan !== undefined && !(age < filters.youngerThan)) return false;
  if (filters.sender !== undefined && !addressMatches(envelope.sender, filters.sender)) return false;
  if (filters.recipient === undefined && filters.domain === undefined) return true;
  return envelope.recipients.some((recipient) => recipientMatches(recipient, filters));
}

/** Whether a recipient is still pending and meets the recipient filters (--recipient, --domain). */
export function recipientMatches(recipient: SpoolRecipient, filters: QueueFilters): boolean {
  if (recipient.status !== "pending") return false;
  if (filters.recipient !== undefined && !addressMatches(recipient.address, filters.recipient)) return false;
  if (filters.domain === undefined) return true;
  const domain = domainOf(recipient.address);
  return domain === filters.domain || domain.endsWith(`.${filters.domain}`);
}

/** The domain of an address, lower case; "" when it has none (`postmaster`, the null sender). */
export function domainOf(address: string): string {
  const at = address.lastIndexOf("@");
  return at < 0 ? "" : address.slice(at + 1).toLowerCase().replace(/\.$/, "");
}

function addressMatches(address: string, pattern: AddressPattern): boolean {
  switch (pattern.kind) {
    case "null":
      return address === "";
    case "address":
      return address !== "" && address.toLowerCase() === pattern.address;
    case "domain":
      return address !== "" && domainOf(address) === pattern.domain;
  }
}

function corruptEntry(corrupt: CorruptEntry): QueueEntry {
  return corrupt.envelope === null
    ? { id: corrupt.name, state: "corrupt", envelope: null, problem: corrupt.problem }
    : { id: corrupt.name, state: "corrupt", envelope: corrupt.envelope };
}
