// What Petrel keeps of a password: never the password itself. Each user has an scrypt hash (RFC 7914), which
// AUTH PLAIN and LOGIN check, and SCRAM-SHA-256 keys (RFC 5802, RFC 7677: a salt, an iteration count, the
// StoredKey and the ServerKey), which AUTH SCRAM-SHA-256 needs and which cannot give back the password either.
// Pure functions over strings and Buffers; comparisons are constant-time.

import { createHash, createHmac, pbkdf2Sync, randomBytes, scrypt, timingSafeEqual } from "node:crypto";
import { promisify } from "node:util";

const scryptAsync = promisify(scrypt) as (password: string, salt: Buffer, length: number, options: object) => Promise<Buffer>;

/** scrypt cost: N = 2^15, r = 8, p = 1 (about 32 MiB and tens of milliseconds per check). */
const SCRYPT = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const;
const SCRAM_ITERATIONS = 4096; // RFC 7677's minimum

export type ScramKeys = { readonly salt: Buffer; readonly iterations: number; readonly storedKey: Buffer; readonly serverKey: Buffer };
export type Credentials = { readonly scrypt: { readonly salt: Buffer; readonly hash: Buffer }; readonly scram: ScramKeys };

const sha256 = (data: Buffer): Buffer => createHash("sha256").update(data).digest();
export const hmac = (key: Buffer, data: string | Buffer): Buffer => createHmac("sha256", key).update(data).digest();

/** SCRAM's SaltedPassword, ClientKey, StoredKey and ServerKey for a password (RFC 5802 §3). */
export function scramKeys(password: string, salt: Buffer, iterations: number): ScramKeys {
  const salted = pbkdf2Sync(password.normalize("NFKC"), salt, iterations, 32, "sha256");
  return { salt, iterations, storedKey: sha256(hmac(salted, "Client Key")), serverKey: hmac(salted, "Server Key") };
}

export async function makeCredentials(password: string): Promise<Credentials> {
  const salt = randomBytes(16);
  const hash = await scryptAsync(password, salt, 32, SCRYPT);
  return { scrypt: { salt, hash }, scram: scramKeys(password, randomBytes(16), SCRAM_ITERATIONS) };
}

/** True if `password` is the one `credentials` were made from. Takes as long whatever the answer. */
export async function passwordMatches(credentials: Credentials, password: string): Promise<boolean> {
  const hash = await scryptAsync(password, credentials.scrypt.salt, credentials.scrypt.hash.length, SCRYPT);
  return timingSafeEqual(hash, credentials.scrypt.hash);
}

/** Credentials no password matches, for unknown users: checking them costs the same as checking real ones. */
export function decoyCredentials(seed: Buffer): Credentials {
  const salt = hmac(seed, "scrypt salt").subarray(0, 16);
  return {
    scrypt: { salt, hash: hmac(seed, "no password hashes to this") },
    scram: { salt: hmac(seed, "scram salt").subarray(0, 16), iterations: SCRAM_ITERATIONS, storedKey: hmac(seed, "stored"), serverKey: hmac(seed, "server") },
  };
}

const b64 = (data: Buffer): string => data.toString("base64");

/** One line of the users file: `name:scrypt$<salt>$<hash>:scram-sha-256$<iterations>$<salt>$<storedKey>$<serverKey>`. */
export function formatCredentials(credentials: Credentials): string {
  const { scrypt: s, scram: k } = credentials;
  return `scrypt$${b64(s.salt)}$${b64(s.hash)}:scram-sha-256$${k.iterations}$${b64(k.salt)}$${b64(k.storedKey)}$${b64(k.serverKey)}`;
}

/** Reads what formatCredentials wrote; null if the text is not in that form. */
export function parseCredentials(text: string): Credentials | null {
  const match = /^scrypt\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):scram-sha-256\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(text);
  if (!match) return null;
  const [, salt, hash, iterations, scramSalt, storedKey, serverKey] = match as unknown as string[];
  const buffer = (value: string | undefined) => Buffer.from(value ?? "", "base64");
  return {
    scrypt: { salt: buffer(salt), hash: buffer(hash) },
    scram: { salt: buffer(scramSalt), iterations: Number(iterations), storedKey: buffer(storedKey), serverKey: buffer(serverKey) },
  };
}
