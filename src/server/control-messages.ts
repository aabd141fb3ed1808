// The messages the primary and its children (SMTP workers, the delivery process) exchange over the cluster IPC
// channel, and the child's side of it. Configuration travels as
// plain data; the primary is the only process that reads the configuration file and signals.

import process from "node:process";
import type { Config } from "../config/schema.ts";

/** The delivery process's slot among the children (SMTP workers have 0..n-1), also its queue id number (DSNs). */
export const DELIVERY_SLOT = 1023;

export type ToWorker =
  | { readonly type: "config"; readonly config: Config }
  | { readonly type: "drain"; readonly timeout: number };

export type ToPrimary =
  | { readonly type: "applied" }
  | { readonly type: "failed"; readonly error: string };

/**
 * The child side of the channel, for the SMTP workers and the delivery process alike: `configure` for each
 * configuration (answered "applied" when it resolves, "failed" with the reason when it rejects), `drain` when the
 * primary says so or goes away. Signals are the primary's: a child ignores them.
 */
export function obeyPrimary(configure: (config: Config) => Promise<void>, drain: (timeout: number) => void): void {
  const send = (message: ToPrimary): void => {
    process.send?.(message);
  };
  process.on("message", (message: ToWorker) => {
    switch (message.type) {
      case "config":
        configure(message.config).then(
          () => send({ type: "applied" }),
          (error: unknown) => send({ type: "failed", error: error instanceof Error ? error.message : String(error) }),
        );
        return;
      case "drain":
        drain(message.timeout);
        return;
    }
  });
  process.on("SIGTERM", () => {});
  process.on("SIGINT", () => {});
  process.on("SIGHUP", () => {});
  process.on("disconnect", () => drain(1000));
}
