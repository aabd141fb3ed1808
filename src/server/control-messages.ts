// The messages the primary and its workers exchange over the cluster IPC channel. Configuration travels as
// plain data; the primary is the only process that reads the configuration file and signals.

import type { Config } from "../config/schema.ts";

/** The delivery process's slot among the children (SMTP workers have 0..n-1), also its queue id number (DSNs). */
export const DELIVERY_SLOT = 1023;

export type ToWorker =
  | { readonly type: "config"; readonly config: Config }
  | { readonly type: "drain"; readonly timeout: number };

export type ToPrimary =
  | { readonly type: "applied" }
  | { readonly type: "failed"; readonly error: string };
