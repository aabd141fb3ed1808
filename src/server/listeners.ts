// The listening sockets of one worker process. Each worker binds every configured listener itself with
// SO_REUSEPORT, so the kernel spreads new connections over the workers without passing them through the
// primary. On a reload the set is reconciled: kept addresses keep their socket and take the new settings
// for new sessions, removed ones stop accepting, new ones are bound.

import { createServer, type Server, type Socket } from "node:net";
import { createServer as createTlsServer, type Server as TlsServer } from "node:tls";
import type { Config } from "../config/schema.ts";
import { Session } from "./session.ts";
import { listenerSettings, type ListenerConfig, type ListenerContext } from "./listener-context.ts";
import { ConnectionLimits, type ConnectionPolicy } from "./connection-limits.ts";
import { formatReply } from "../smtp/reply.ts";
import { replies } from "../smtp/replies.ts";
import { availableParallelism } from "node:os";

export type SharedParts = Omit<ListenerContext, "listener" | "settings" | "sessionClosed">;

type Bound = { server: Server; context: ListenerContext };

function key(listener: ListenerConfig): string {
  return `[${listener.address}]:${listener.port}`;
}

export class Listeners {
  private readonly bound = new Map<string, Bound>();
  readonly sessions = new Set<Session>();
  private onIdle: (() => void) | null = null;
  private limits: ConnectionLimits | null = null;

  /** Binds, keeps or closes listeners so that they match `config`; rejects if a new address cannot be bound. */
  async apply(config: Config, shared: SharedParts): Promise<void> {
    const policy: ConnectionPolicy = {
      maxConnections: config.limits.max_connections,
      maxPerClient: config.limits.max_connections_per_client,
      ratePerClient: config.limits.connection_rate_per_client,
      workers: config.server.workers === "auto" ? availableParallelism() : config.server.workers,
    };
    if (this.limits === null) this.limits = new ConnectionLimits(policy);
    else this.limits.configure(policy);
    const wanted = new Map(config.listener.map((listener) => [key(listener), listener]));
    for (const [address, bound] of this.bound) {
      if (!wanted.has(address)) {
        bound.server.close();
        this.bound.delete(address);
      }
    }
    const binds: Promise<void>[] = [];
    for (const [address, listener] of wanted) {
      const context: ListenerContext = {
        ...shared,
        listener: { ...listener, name: listener.name ?? `${listener.role}-${listener.port}` },
        settings: listenerSettings(config, listener),
        sessionClosed: (session) => this.forget(session),
      };
      const existing = this.bound.get(address);
      if (existing) {
        existing.context = context;
        if ("setSecureContext" in existing.server) (existing.server as TlsServer).setSecureContext(context.tls.options);
      } else binds.push(this.bind(address, listener, context));
    }
    await Promise.all(binds);
  }

  private bind(address: string, listener: ListenerConfig, context: ListenerContext): Promise<void> {
    // A submissions listener (RFC 8314) hands over sockets already encrypted; the others plain ones.
    const implicitTls = listener.role === "submissions";
    const server = implicitTls ? createTlsServer({ ...context.tls.options, noDelay: true }) : createServer({ noDelay: true });
    const bound: Bound = { server, context };
    const serve = (socket: Socket) => this.sessions.add(new Session(socket, bound.context));
    server.on("connection", (socket: Socket) => {
      if (!this.admit(socket, bound.context, implicitTls)) return;
      if (!implicitTls) serve(socket);
    });
    if (implicitTls) server.on("secureConnection", serve);
    return new Promise((resolve, reject) => {
      bound.server.once("error", reject);
      bound.server.listen({ host: listener.address, port: listener.port, exclusive: true, reusePort: true }, () => {
        bound.server.off("error", reject);
        bound.server.on("error", (error) => context.logs.module("server").error({ err: error, listener: address }, "listener error"));
        this.bound.set(address, bound);
        resolve();
      });
    });
  }

  /** Counts a new connection against the limits, or turns it away (421 where the client can read it). */
  private admit(socket: Socket, context: ListenerContext, implicitTls: boolean): boolean {
    const address = socket.remoteAddress ?? "unknown";
    const verdict = this.limits!.admit(address);
    if (verdict === "admitted") {
      socket.once("close", () => this.limits!.release(address));
      return true;
    }
    context.logs.module("smtp", "mail").info({ event: "connection-refused", client: address, reason: verdict }, "connection refused");
    socket.on("error", () => {});
    if (implicitTls) socket.destroy();
    else socket.end(formatReply(replies.tooManyConnections));
    return false;
  }

  private forget(session: Session): void {
    this.sessions.delete(session);
    if (this.sessions.size === 0) this.onIdle?.();
  }

  /** Resolves once no session is left. */
  idle(): Promise<void> {
    if (this.sessions.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.onIdle = resolve;
    });
  }

  /** Stops accepting new connections on every listener. */
  close(): void {
    for (const bound of this.bound.values()) bound.server.close();
    this.bound.clear();
  }
}
