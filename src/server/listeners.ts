// The listening sockets of one worker process. Each worker binds every configured listener itself with
// SO_REUSEPORT, so the kernel spreads new connections over the workers without passing them through the
// primary. On a reload the set is reconciled: kept addresses keep their socket and take the new settings
// for new sessions, removed ones stop accepting, new ones are bound.

import { createServer, type Server, type Socket } from "node:net";
import { createServer as createTlsServer, type Server as TlsServer, TLSSocket } from "node:tls";
import type { Config } from "../config/schema.ts";
import { Session } from "./session.ts";
import { listenerSettings, type ListenerConfig, type ListenerContext } from "./listener-context.ts";
import { ConnectionLimits, type ConnectionPolicy } from "./connection-limits.ts";
import { formatReply } from "../smtp/reply.ts";
import { replies } from "../smtp/replies.ts";
import { availableParallelism } from "node:os";
import { parseProxyHeader } from "./proxy-protocol.ts";
import type { TlsSetup } from "./tls-certificate.ts";

export type SharedParts = Omit<ListenerContext, "listener" | "settings" | "sessionClosed" | "limits">;

type Bound = { server: Server; context: ListenerContext };

function key(listener: ListenerConfig): string {
  return `[${listener.address}]:${listener.port}`;
}

export class Listeners {
  private readonly bound = new Map<string, Bound>();
  readonly sessions = new Set<Session>();
  private onIdle: (() => void) | null = null;
  /** Callers of ended(), each with the sessions it still waits for. */
  private readonly endings = new Set<{ sessions: Set<Session>; resolve: () => void }>();
  private limits: ConnectionLimits | null = null;

  /** Binds, keeps or closes listeners so that they match `config`; rejects if a new address cannot be bound. */
  async apply(config: Config, shared: SharedParts): Promise<void> {
    const policy: ConnectionPolicy = {
      maxConnections: config.limits.max_connections,
      maxPerClient: config.limits.max_connections_per_client,
      ratePerClient: config.limits.connection_rate_per_client,
      messageRatePerClient: config.limits.message_rate_per_client,
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
        limits: this.limits,
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
    // Names are looked up in the configuration of the moment: a reload brings new certificates by name too.
    const sni: TlsSetup["sni"] = (name, done) => bound.context.tls.sni(name, done);
    // Behind a PROXY header the TLS handshake starts only once the header is read, so such a listener accepts
    // plain sockets and encrypts them itself (secureAfterProxy).
    const tlsServer = implicitTls && !listener.proxy_protocol;
    const server = tlsServer ? createTlsServer({ ...context.tls.options, SNICallback: sni, noDelay: true }) : createServer({ noDelay: true });
    const bound: Bound = { server, context };
    const serve = (socket: Socket) => this.sessions.add(new Session(socket, bound.context));
    server.on("connection", (socket: Socket) => {
      if (listener.proxy_protocol) return this.readProxyHeader(socket, bound.context, implicitTls);
      if (!this.admit(socket, bound.context, implicitTls, socket.remoteAddress ?? "unknown")) return;
      if (!implicitTls) serve(socket);
    });
    if (tlsServer) server.on("secureConnection", serve);
    return new Promise((resolve, reject) => {
      bound.server.once("error", (error: NodeJS.ErrnoException) => {
        if (error.code === "EACCES" && listener.port < 1024) {
          error.message += " (a port below 1024 needs Petrel started as root, with server.user to drop privileges, or the CAP_NET_BIND_SERVICE capability)";
        }
        reject(error);
      });
      bound.server.listen({ host: listener.address, port: listener.port, exclusive: true, reusePort: true }, () => {
        bound.server.removeAllListeners("error");
        bound.server.on("error", (error) => context.logs.module("server").error({ err: error, listener: address }, "listener error"));
        this.bound.set(address, bound);
        resolve();
      });
    });
  }

  /**
   * A listener behind a load balancer: the connection must come from one of proxy_from and start with a PROXY
   * header; the session then sees the client the header names. Anything else is closed without a word.
   */
  private readProxyHeader(socket: Socket, context: ListenerContext, implicitTls: boolean): void {
    const log = context.logs.module("smtp", "mail");
    const peer = socket.remoteAddress ?? "unknown";
    socket.on("error", () => {});
    if (!context.settings.proxyFrom.has(peer)) {
      log.info({ event: "proxy-refused", peer, reason: "not in proxy_from" }, "PROXY header from an untrusted address");
      socket.destroy();
      return;
    }
    let received = Buffer.alloc(0);
    const timer = setTimeout(() => socket.destroy(), context.settings.commandTimeout);
    const onData = (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const parsed = parseProxyHeader(received);
      if (parsed === null) return;
      socket.off("data", onData);
      clearTimeout(timer);
      if ("error" in parsed) {
        log.info({ event: "proxy-refused", peer, reason: parsed.error }, "bad PROXY header");
        socket.destroy();
        return;
      }
      socket.pause();
      if (parsed.rest.length > 0) socket.unshift(parsed.rest);
      const client = parsed.header.client ?? { address: peer, port: socket.remotePort ?? 0 };
      if (!this.admit(socket, context, implicitTls, client.address)) return;
      if (implicitTls) this.secureAfterProxy(socket, context, client);
      else this.sessions.add(new Session(socket, context, client));
    };
    socket.on("data", onData);
  }

  /**
   * The TLS handshake of a submissions listener behind a load balancer, after the PROXY header (the bytes of the
   * ClientHello already read are handed to the TLS layer, which takes a socket's buffered data first; the plain
   * socket stays paused, or it would hand those bytes to no one).
   */
  private secureAfterProxy(socket: Socket, context: ListenerContext, client: { address: string; port: number }): void {
    const { context: secureContext, sni: SNICallback } = context.tls;
    const secure = new TLSSocket(socket, { isServer: true, secureContext, SNICallback });
    const timer = setTimeout(() => secure.destroy(), context.settings.commandTimeout);
    secure.once("error", (error: Error) => {
      clearTimeout(timer);
      context.logs.module("smtp", "mail").info({ event: "tls-failed", client: client.address, error: error.message }, "TLS handshake failed");
      secure.destroy();
    });
    secure.once("secure", () => {
      clearTimeout(timer);
      this.sessions.add(new Session(secure, context, client));
    });
  }

  /** Counts a new connection against the limits, or turns it away (421 where the client can read it). */
  private admit(socket: Socket, context: ListenerContext, implicitTls: boolean, address: string): boolean {
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
    for (const waiter of this.endings) {
      waiter.sessions.delete(session);
      if (waiter.sessions.size === 0) {
        this.endings.delete(waiter);
        waiter.resolve();
      }
    }
    if (this.sessions.size === 0) this.onIdle?.();
  }

  /** Resolves once every one of `sessions` has ended. */
  ended(sessions: readonly Session[]): Promise<void> {
    const waiting = new Set(sessions.filter((session) => this.sessions.has(session)));
    if (waiting.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.endings.add({ sessions: waiting, resolve }));
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
