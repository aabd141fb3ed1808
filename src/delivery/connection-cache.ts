// Idle SMTP and LMTP connections kept for the next message to the same server (address, port, TLS and login),
// each for delivery.connection_reuse at most, then closed with QUIT. A connection is taken out while it carries
// a transaction and put back after it if it can carry another.

import type { SmtpClient } from "./smtp-client.ts";

type Idle = { readonly client: SmtpClient; readonly timer: NodeJS.Timeout };

export class ConnectionCache {
  readonly #idleTime: number;
  readonly #idle = new Map<string, Idle[]>();

  constructor(idleTime: number) {
    this.#idleTime = idleTime;
  }

  /** An idle connection to `key`, or undefined. */
  take(key: string): SmtpClient | undefined {
    const list = this.#idle.get(key);
    const idle = list?.pop();
    if (list !== undefined && list.length === 0) this.#idle.delete(key);
    if (idle === undefined) return undefined;
    clearTimeout(idle.timer);
    return idle.client;
  }

  /** Keeps a connection that finished a transaction; one that cannot carry another is closed. */
  put(key: string, client: SmtpClient): void {
    if (!client.reusable || this.#idleTime <= 0) {
      void client.quit().catch(() => client.close());
      return;
    }
    const timer = setTimeout(() => {
      const list = this.#idle.get(key);
      const index = list?.findIndex((idle) => idle.client === client) ?? -1;
      if (list !== undefined && index >= 0) list.splice(index, 1);
      if (list !== undefined && list.length === 0) this.#idle.delete(key);
      void client.quit().catch(() => client.close());
    }, this.#idleTime);
    timer.unref();
    const list = this.#idle.get(key) ?? [];
    list.push({ client, timer });
    this.#idle.set(key, list);
  }

  /** Says goodbye on every idle connection (at shutdown). */
  async closeAll(): Promise<void> {
    const all = [...this.#idle.values()].flat();
    this.#idle.clear();
    await Promise.all(
      all.map(({ client, timer }) => {
        clearTimeout(timer);
        return client.quit().catch(() => client.close());
      }),
    );
  }
}
