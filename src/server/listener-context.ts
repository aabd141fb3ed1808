// What every session of one listener shares: the listener's effective settings (global [smtp] values with the
// listener's overrides applied, computed once per configuration), the spool, the logs and the id sources.
// Sessions keep the context they started with, so a reload never changes a session in flight.

import type { Logs } from "../log/logs.ts";
import type { Spool } from "../queue/spool.ts";
import type { Config } from "../config/schema.ts";
import type { Session } from "./session.ts";
import type { ReadBuffers } from "./read-buffers.ts";

export type ListenerConfig = Config["listener"][number];

export type ListenerSettings = {
  readonly hostname: string;
  readonly role: ListenerConfig["role"];
  readonly localDomains: ReadonlySet<string>;
  readonly maxMessageSize: number;
  readonly maxRecipients: number;
  readonly maxCommandLength: number;
  readonly maxErrors: number;
  readonly commandTimeout: number;
  readonly dataTimeout: number;
  readonly greetingDelay: number;
  readonly bareLineEndings: Config["smtp"]["bare_line_endings"];
};

export type ListenerContext = {
  readonly listener: ListenerConfig & { readonly name: string };
  readonly settings: ListenerSettings;
  readonly spool: Spool;
  readonly logs: Logs;
  readonly nextSessionId: () => string;
  readonly nextQueueId: () => string;
  readonly readBuffers: ReadBuffers;
  readonly sessionClosed: (session: Session) => void;
};

export function listenerSettings(config: Config, listener: ListenerConfig): ListenerSettings {
  const smtp = config.smtp;
  return {
    hostname: config.server.hostname,
    role: listener.role,
    localDomains: new Set(smtp.local_domains.map((domain) => domain.toLowerCase())),
    maxMessageSize: listener.max_message_size ?? smtp.max_message_size,
    maxRecipients: smtp.max_recipients,
    maxCommandLength: smtp.max_command_length,
    maxErrors: smtp.max_errors,
    commandTimeout: smtp.timeouts.command,
    dataTimeout: smtp.timeouts.data,
    greetingDelay: listener.greeting_delay ?? smtp.greeting_delay,
    bareLineEndings: smtp.bare_line_endings,
  };
}
