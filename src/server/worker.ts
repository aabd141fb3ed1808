// A worker process: waits for its configuration from the primary, opens the spool and its listeners, and
// serves SMTP sessions until told to drain. Several workers share the listening ports (SO_REUSEPORT) and
// the spool; nothing here coordinates with another worker.

import process from "node:process";
import type { Config } from "../config/schema.ts";
import { ConfiguredLogs, type Logs } from "../log/logs.ts";
import { Spool } from "../queue/spool.ts";
import { createQueueIdSource } from "../queue/queue-id.ts";
import { Listeners } from "./listeners.ts";
import { ReadBuffers } from "./read-buffers.ts";
import { dropPrivileges, identity } from "./privileges.ts";
import { obeyPrimary } from "./control-messages.ts";
import { servedParts } from "./served-parts.ts";

const workerNumber = Number(process.env["PETREL_WORKER"] ?? "0");
const listeners = new Listeners();
const configuredLogs = new ConfiguredLogs({ worker: workerNumber });
let spool: Spool | null = null;
let spoolDir = "";
const nextId = createQueueIdSource(workerNumber);
const readBuffers = new ReadBuffers();
/** After the first configuration the worker runs as server.user; a reload cannot bind ports below 1024. */
let privilegesDropped = false;

/** Logs replaced by a reload that sessions started before it still write to; each is closed when they have ended. */
const retiredLogs = new Set<Logs>();

async function configure(config: Config): Promise<void> {
  const next = configuredLogs.prepare(config.log);
  // A file that cannot be read or a rule file that fails to load rejects here: the primary logs why, and this
  // worker goes on with the configuration (rules and logs) it had.
  try {
    if (spool === null) {
      spool = await Spool.open(config.spool.dir);
      spoolDir = config.spool.dir;
    } else if (config.spool.dir !== spoolDir) {
      next.system.warn({ dir: config.spool.dir, current: spoolDir }, "spool.dir changes take effect after a restart");
    }
    const shared = await servedParts(config, { spool, logs: next, readBuffers, nextId });
    await listeners.apply(config, shared);
  } catch (error) {
    configuredLogs.discard(next);
    throw error;
  }
  const replaced = configuredLogs.adopt(next, config.log);
  if (replaced !== null) {
    retiredLogs.add(replaced);
    void listeners.ended([...listeners.sessions]).then(async () => {
      retiredLogs.delete(replaced);
      await replaced.close();
    });
  }
  if (!privilegesDropped) {
    const owner = identity(config);
    if (owner !== null) dropPrivileges(owner);
    privilegesDropped = true;
  }
}

/** Stops accepting, lets sessions end their transactions, and exits once none is left (or at the deadline). */
function drain(timeout: number): void {
  listeners.close();
  for (const session of listeners.sessions) session.shutdown();
  const deadline = setTimeout(() => {
    for (const session of listeners.sessions) session.destroy();
  }, timeout);
  deadline.unref();
  void listeners.idle().then(async () => {
    await Promise.all([configuredLogs.current, ...retiredLogs].map((each) => each?.flush()));
    process.exit(0);
  });
}

obeyPrimary(configure, drain);
