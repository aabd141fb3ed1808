// The delivery process (delivery/ does the work): one per server, started and restarted by the primary beside the SMTP workers. It waits
// for its configuration over the same IPC channel as they do, then runs the scheduler over the spool until told
// to drain: runs in progress finish (within the shutdown timeout), then it exits. A reload swaps the routing,
// transport settings and the postq/delivery rules for the runs that start after it. delivery.paused = true keeps
// it idle.

import { readDataFile } from "../config/data-file.ts";
import process from "node:process";
import { rootCertificates } from "node:tls";
import type { Config } from "../config/schema.ts";
import { DnsResolver } from "../dns/resolver.ts";
import { ConfiguredLogs, type Logs } from "../log/logs.ts";
import { createQueueIdSource } from "../queue/queue-id.ts";
import { Spool } from "../queue/spool.ts";
import { DELIVERY_SLOT, obeyPrimary } from "./control-messages.ts";
import { dropPrivileges, identity } from "./privileges.ts";
import { ConnectionCache } from "../delivery/connection-cache.ts";
import { DeliverySlots } from "../delivery/delivery-slots.ts";
import { DestinationHealth } from "../delivery/destination-health.ts";
import { LocalTransport } from "../delivery/local-transport.ts";
import type { RunParts } from "../delivery/message-run.ts";
import { Router } from "../delivery/router.ts";
import { Scheduler } from "../delivery/scheduler.ts";
import { SmtpTransport } from "../delivery/smtp-transport.ts";
import { loadRuleFiles } from "../rules/rule-files.ts";
import { QueueRuleStages } from "./queue-rule-stages.ts";

const nextId = createQueueIdSource(DELIVERY_SLOT);
const health = new DestinationHealth();
const configuredLogs = new ConfiguredLogs({ role: "delivery" });
let spool: Spool | null = null;
let scheduler: Scheduler | null = null;
let cache: ConnectionCache | null = null;
let privilegesDropped = false;

/** The logins named in delivery.credentials, their passwords read from their files now. */
async function readCredentials(config: Config): Promise<Map<string, { user: string; password: string }>> {
  const logins = new Map<string, { user: string; password: string }>();
  for (const [name, { user, password_file }] of Object.entries(config.delivery.credentials)) {
    const text = await readDataFile(password_file, `delivery.credentials.${name}.password_file: ${password_file}`);
    const password = text.replace(/\r?\n$/, "");
    logins.set(name, { user, password });
  }
  return logins;
}

/** delivery.tls_ca_file's authorities with Node's own, read now; undefined without the setting (Node's alone). */
async function relayAuthorities(config: Config): Promise<string[] | undefined> {
  const file = config.delivery.tls_ca_file;
  return file === undefined ? undefined : [...rootCertificates, await readDataFile(file, `delivery.tls_ca_file: ${file}`)];
}

async function runParts(config: Config, current: Spool, logs: Logs): Promise<RunParts> {
  const delivery = config.delivery;
  const logins = await readCredentials(config);
  const ca = await relayAuthorities(config);
  const resolver = new DnsResolver({ servers: config.dns.servers, timeout: config.dns.timeout, attempts: config.dns.attempts, cacheEntries: config.dns.cache_entries });
  cache ??= new ConnectionCache(delivery.connection_reuse);
  // The postq and delivery stages of the rule files; a file that does not load fails this configuration.
  const book = config.rules.files.length === 0 ? null : await loadRuleFiles(config.rules.files);
  const rules = book === null || (book.postq.length === 0 && book.delivery.length === 0) ? undefined : new QueueRuleStages(book, current, config, logs.module("rules", "mail"));
  return {
    ...(rules === undefined ? {} : { rules }),
    spool: current,
    router: new Router(config),
    transports: {
      local: new LocalTransport(),
      smtp: new SmtpTransport(resolver, cache, {
        heloName: delivery.helo_name ?? config.server.hostname,
        mxTls: delivery.tls,
        mxPort: delivery.mx_port,
        families: delivery.address_families,
        timeouts: delivery.timeouts,
        credentials: (name) => logins.get(name),
        ...(ca === undefined ? {} : { ca }),
      }),
    },
    slots: new DeliverySlots(delivery.concurrency, delivery.destination_concurrency),
    health,
    retry: { retryMin: delivery.retry_min, retryMax: delivery.retry_max, maxLifetime: delivery.max_lifetime, delayWarning: delivery.delay_warning },
    reports: { reportingMta: config.server.hostname, returnLimit: delivery.return_limit, nextId },
    log: logs.module("delivery", "mail"),
    now: Date.now,
  };
}

async function configure(config: Config): Promise<void> {
  const next = configuredLogs.prepare(config.log);
  let parts: RunParts;
  try {
    spool ??= await Spool.open(config.spool.dir);
    parts = await runParts(config, spool, next);
  } catch (error) {
    configuredLogs.discard(next);
    throw error;
  }
  const replaced = configuredLogs.adopt(next, config.log);
  if (!privilegesDropped) {
    const owner = identity(config);
    if (owner !== null) dropPrivileges(owner);
    privilegesDropped = true;
  }
  let earlierRuns: Promise<void> = Promise.resolve();
  if (config.delivery.paused) {
    if (scheduler !== null) await scheduler.stop();
    scheduler = null;
    next.system.info("delivery paused (delivery.paused = true): mail is queued, not delivered");
  } else if (scheduler === null) {
    scheduler = new Scheduler(parts, next.module("delivery"));
    await scheduler.start();
  } else earlierRuns = scheduler.reconfigure(parts, next.module("delivery"));
  // Runs that started before a change of the [log] table write to the old logs until they end.
  if (replaced !== null) void earlierRuns.then(() => replaced.close());
}

/** Finishes the runs in progress (at most `timeout`), says goodbye on idle connections, and exits. */
function drain(timeout: number): void {
  const deadline = setTimeout(() => process.exit(0), timeout);
  deadline.unref();
  void (async () => {
    await scheduler?.stop();
    await cache?.closeAll();
    await configuredLogs.current?.flush();
    process.exit(0);
  })();
}

obeyPrimary(configure, drain);
