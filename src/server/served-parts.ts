// What the listeners of one configuration share, read from the configuration's files: TLS certificates, the
// AUTH users, secret and sender map, the local aliases and mailboxes, and the rule files. Built each time a configuration is applied (start,
// SIGHUP) by a worker, and by `petrel rules test` for its private server; any file that cannot be read or loaded
// rejects, and the caller keeps what it had.

import { readFile } from "node:fs/promises";
import type { Config } from "../config/schema.ts";
import type { Logs } from "../log/logs.ts";
import type { Spool } from "../queue/spool.ts";
import { readSenderLogins } from "../accounts/sender-logins.ts";
import { readUsers, userStore } from "../accounts/user-file.ts";
import { AuthFailures } from "../accounts/auth-failures.ts";
import { stages } from "../rules/api.ts";
import { emptyRuleBook, loadRuleFiles, type RuleBook } from "../rules/rule-files.ts";
import type { SharedParts } from "./listeners.ts";
import { readLocalRecipients } from "../rules/local-recipients.ts";
import { domainForms } from "../smtp/domain-forms.ts";
import type { ReadBuffers } from "./read-buffers.ts";
import { tlsSetup } from "./tls-certificate.ts";

export type ProcessParts = {
  readonly spool: Spool;
  readonly logs: Logs;
  readonly readBuffers: ReadBuffers;
  readonly nextId: () => string;
};

export async function servedParts(config: Config, parts: ProcessParts): Promise<SharedParts> {
  const { auth } = config;
  const accounts = {
    store: userStore(await readUsers(auth.users)),
    secret: await readFile(auth.secret),
    senderLogins: await readSenderLogins(auth.sender_logins),
    failures: new AuthFailures({ maxFailures: auth.max_failures, lockout: auth.lockout, failureDelay: auth.failure_delay }),
  };
  const rules = { book: await loadRules(config, parts.logs), timeout: config.rules.timeout, log: parts.logs.module("rules", "mail"), config };
  const localRecipients = await readLocalRecipients(config.smtp.aliases, config.smtp.mailboxes, domainForms(config.smtp.local_domains));
  const { spool, logs, readBuffers, nextId } = parts;
  return { spool, logs, readBuffers, tls: await tlsSetup(config), accounts, localRecipients, rules, nextSessionId: nextId, nextQueueId: nextId };
}

/** The rule files, imported afresh. */
async function loadRules(config: Config, logs: Logs): Promise<RuleBook> {
  if (config.rules.files.length === 0) return emptyRuleBook;
  const book = await loadRuleFiles(config.rules.files);
  logs.system.info({ files: book.files, rules: stages.map((stage) => `${stage}: ${book[stage].length}`).join(", ") }, "rules loaded");
  return book;
}
