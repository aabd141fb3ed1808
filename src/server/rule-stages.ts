// Runs a stage's rules for a session: builds the stage's ctx from the session (only when the stage has rules:
// a stage without rules costs one array length check), runs them, and hands the handler the decision. The
// handler's continuation runs at once when every rule was synchronous, else once the last one settles (the
// session reads nothing meanwhile). Also what the session shows rules about its connection.

import type { Connection, Stage } from "../rules/api.ts";
import type { StageContext, StageSetup } from "../rules/contexts.ts";
import { runStage } from "../rules/run-stage.ts";
import { CONTINUE, type Decision, decide } from "./rule-verdicts.ts";
import type { Session } from "./session.ts";

/**
 * The connection as rules see it at this moment (HELO, TLS and AUTH change as the session goes on): frozen, and
 * the same object from stage to stage while none of that changes.
 */
function connectionOf(session: Session, clientName: string | null): Connection {
  const helo = session.greeting === "none" ? null : session.helo;
  const known = session.rulesSetup?.connection;
  if (known?.helo === helo && known.tls === session.tls && known.user === session.user && known.client.name === clientName) return known;
  const listener = session.context.listener;
  return Object.freeze({
    id: session.id,
    client: Object.freeze({ address: session.clientAddress, port: session.clientPort, name: clientName }),
    server: Object.freeze({ address: session.serverAddress, port: session.serverPort }),
    listener: Object.freeze({ name: listener.name, role: listener.role }),
    tls: session.tls,
    helo,
    user: session.user,
  });
}

/**
 * Runs `stage` and then `then` with the decision; returns a promise only when a rule was asynchronous (or the
 * client's reverse name had to be awaited). `makeContext` builds the ctx from the common setup.
 */
export function withRules(
  session: Session,
  stage: Stage,
  makeContext: (setup: StageSetup) => StageContext,
  then: (decision: Decision) => void,
): Promise<void> | undefined {
  const rules = session.context.rules.book[stage];
  if (rules.length === 0 || session.rulesSkipped()) {
    then(CONTINUE);
    return undefined;
  }
  const run = (clientName: string | null): Promise<void> | undefined => {
    const outcome = runStage(rules, makeContext(stageSetup(session, clientName)), session.context.rules.timeout);
    if (outcome instanceof Promise) return outcome.then((settled) => then(decide(session, stage, settled)));
    then(decide(session, stage, outcome));
    return undefined;
  };
  // Synchronous rules, once the client's name is known, answer within the command loop: no pause, no promise.
  if (session.knownClientName !== undefined) return run(session.knownClientName);
  return session.clientName.then(run);
}

/** What every stage's ctx is built from: one object per session, made again only when its connection changes. */
export function stageSetup(session: Session, clientName: string | null): StageSetup {
  const connection = connectionOf(session, clientName);
  if (session.rulesSetup?.connection === connection) return session.rulesSetup;
  const { rules, settings } = session.context;
  session.rulesSetup = Object.freeze({
    connection,
    log: rules.log,
    config: rules.config,
    timeout: rules.timeout,
    localDomains: settings.localDomains,
    inRelayNetworks: (address: string) => settings.relayNetworks.has(address),
  });
  return session.rulesSetup;
}

/** Applies a refusal; true when the handler must stop there. */
export function refused(session: Session, decision: Decision): boolean {
  if (decision.action !== "refuse") return false;
  if (decision.close) session.close(decision.reply);
  else session.refuse(decision.reply);
  return true;
}
