// The server side of the SASL mechanisms SMTP AUTH offers (RFC 4954): PLAIN (RFC 4616), LOGIN (the old
// de-facto one) and SCRAM-SHA-256 (RFC 5802, RFC 7677). Each exchange takes the client's decoded responses one
// at a time and answers with a challenge, success or failure; it looks credentials up through an AccountStore
// and treats an unknown user exactly like a wrong password (same work, same answer). It never sees a socket.

import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { type Credentials, decoyCredentials, hmac, passwordMatches } from "./credentials.ts";

/** Where users' credentials come from: a file today; SQL, LDAP or rules later. undefined: no such user. */
export interface AccountStore {
  credentials(user: string): Promise<Credentials | undefined>;
}

export type SaslStep =
  | { readonly kind: "challenge"; readonly data: Buffer }
  | { readonly kind: "success"; readonly user: string }
  | { readonly kind: "failure"; readonly user: string | null }
  | { readonly kind: "malformed" };

export interface SaslExchange {
  /** The client's next response, decoded from base64: the initial response, or null when there was none. */
  step(response: Buffer | null): Promise<SaslStep>;
}

export const saslMechanisms = ["PLAIN", "LOGIN", "SCRAM-SHA-256"] as const;
export type SaslMechanism = (typeof saslMechanisms)[number];

const EMPTY = Buffer.alloc(0);

/** The credentials of `user`, or decoys that cost the same to check and never match. */
async function lookUp(store: AccountStore, secret: Buffer, user: string): Promise<{ credentials: Credentials; known: boolean }> {
  const credentials = await store.credentials(user);
  return credentials ? { credentials, known: true } : { credentials: decoyCredentials(hmac(secret, user)), known: false };
}

async function checkPassword(store: AccountStore, secret: Buffer, user: string, password: string): Promise<SaslStep> {
  const { credentials, known } = await lookUp(store, secret, user);
  const matches = await passwordMatches(credentials, password);
  return matches && known ? { kind: "success", user } : { kind: "failure", user };
}

/** PLAIN: one response, `authzid NUL authcid NUL password`; a different authzid is refused. */
function plain(store: AccountStore, secret: Buffer): SaslExchange {
  return {
    async step(response) {
      if (response === null) return { kind: "challenge", data: EMPTY };
      const parts = response.toString("utf8").split("\0");
      if (parts.length !== 3) return { kind: "malformed" };
      const [authorize, user, password] = parts as [string, string, string];
      if (user === "" || (authorize !== "" && authorize !== user)) return { kind: "failure", user: user || null };
      return checkPassword(store, secret, user, password);
    },
  };
}

/** LOGIN: "Username:", then "Password:". */
function login(store: AccountStore, secret: Buffer): SaslExchange {
  let user: string | null = null;
  return {
    async step(response) {
      if (user === null) {
        if (response === null) return { kind: "challenge", data: Buffer.from("Username:") };
        user = response.toString("utf8");
        return { kind: "challenge", data: Buffer.from("Password:") };
      }
      if (response === null) return { kind: "malformed" };
      return checkPassword(store, secret, user, response.toString("utf8"));
    },
  };
}

/** RFC 5802 saslname: "=2C" and "=3D" stand for "," and "=". */
function saslName(text: string): string | null {
  if (/=(?!2C|3D)/.test(text)) return null;
  return text.replaceAll("=2C", ",").replaceAll("=3D", "=");
}

function attributes(text: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const part of text.split(",")) if (part.length >= 2 && part[1] === "=") map.set(part[0]!, part.slice(2));
  return map;
}

/** SCRAM-SHA-256 without channel binding: client-first, server-first, client-final, server-final. */
function scram(store: AccountStore, secret: Buffer, makeNonce: () => string): SaslExchange {
  let state: { user: string; known: boolean; credentials: Credentials; clientFirstBare: string; serverFirst: string; nonce: string } | null = null;
  let verified: Buffer | null = null;
  return {
    async step(response) {
      if (verified !== null) return { kind: "success", user: state!.user }; // the client's empty answer to v=
      if (response === null) return state === null ? { kind: "challenge", data: EMPTY } : { kind: "malformed" };
      const text = response.toString("utf8");
      if (state === null) {
        // gs2-header "n,," (no channel binding, no authzid), then n=user,r=nonce
        const match = /^[ny],,(.*)$/.exec(text);
        if (!match) return { kind: "malformed" };
        const clientFirstBare = match[1]!;
        const fields = attributes(clientFirstBare);
        const user = saslName(fields.get("n") ?? "");
        const clientNonce = fields.get("r");
        if (!user || !clientNonce) return { kind: "malformed" };
        const { credentials, known } = await lookUp(store, secret, user);
        const nonce = clientNonce + makeNonce();
        const serverFirst = `r=${nonce},s=${credentials.scram.salt.toString("base64")},i=${credentials.scram.iterations}`;
        state = { user, known, credentials, clientFirstBare, serverFirst, nonce };
        return { kind: "challenge", data: Buffer.from(serverFirst) };
      }
      const withoutProof = /^(.*),p=([A-Za-z0-9+/=]+)$/.exec(text);
      if (!withoutProof) return { kind: "malformed" };
      const fields = attributes(withoutProof[1]!);
      if (fields.get("c") !== "biws" && fields.get("c") !== "eSws") return { kind: "failure", user: state.user };
      if (fields.get("r") !== state.nonce) return { kind: "failure", user: state.user };
      const authMessage = `${state.clientFirstBare},${state.serverFirst},${withoutProof[1]}`;
      const { storedKey, serverKey } = state.credentials.scram;
      const proof = Buffer.from(withoutProof[2]!, "base64");
      const signature = hmac(storedKey, authMessage);
      if (proof.length !== signature.length) return { kind: "failure", user: state.user };
      const clientKey = Buffer.from(proof.map((byte, i) => byte ^ signature[i]!));
      const matches = timingSafeEqual(createHash("sha256").update(clientKey).digest(), storedKey);
      if (!matches || !state.known) return { kind: "failure", user: state.user };
      verified = hmac(serverKey, authMessage);
      return { kind: "challenge", data: Buffer.from(`v=${verified.toString("base64")}`) };
    },
  };
}

/**
 * A new exchange for `mechanism`. `secret` keys the decoys of unknown users (so an unknown user gets the same
 * salt every time, as a real one does); `makeNonce` is the server's part of SCRAM's nonce.
 */
export function startSasl(
  mechanism: SaslMechanism,
  store: AccountStore,
  secret: Buffer,
  makeNonce: () => string = () => randomBytes(18).toString("base64"),
): SaslExchange {
  switch (mechanism) {
    case "PLAIN":
      return plain(store, secret);
    case "LOGIN":
      return login(store, secret);
    case "SCRAM-SHA-256":
      return scram(store, secret, makeNonce);
  }
}
