// The server's TLS certificate: the configured one, or a self-signed one for server.hostname that the primary
// makes (with the openssl command) at first start, keeps in tls.directory, and warns about. Workers turn the
// files into a SecureContext each time they apply a configuration, so a SIGHUP picks up renewed files
// without touching sessions in flight. It never serves a certificate whose files it could not read.

import { execFile } from "node:child_process";
import { access, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { createSecureContext, type SecureContext, type SecureContextOptions } from "node:tls";
import { constants } from "node:crypto";
import { promisify } from "node:util";
import { readDataFile } from "../config/data-file.ts";
import type { Config } from "../config/schema.ts";
import type { Logger } from "../log/logs.ts";

/**
 * TLS 1.2 suites when tls.ciphers is not set: forward secrecy and AEAD only (no CBC: LUCKY13), ECDSA and RSA
 * certificates alike. TLS 1.3 suites are all AEAD and stay OpenSSL's.
 */
const DEFAULT_CIPHERS = [
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-CHACHA20-POLY1305",
].join(":");

export type CertificateFiles = { readonly certificate: string; readonly key: string; readonly selfSigned: boolean };

export function certificateFiles(config: Config): CertificateFiles {
  const { tls } = config;
  if (tls.certificate !== undefined && tls.key !== undefined) {
    return { certificate: tls.certificate, key: tls.key, selfSigned: false };
  }
  return { certificate: join(tls.directory, "self-signed.crt"), key: join(tls.directory, "self-signed.key"), selfSigned: true };
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** Makes the self-signed certificate if it is the one in use and does not exist yet (primary, at start). */
export async function ensureCertificate(config: Config, log: Logger): Promise<void> {
  const files = certificateFiles(config);
  if (!files.selfSigned) return;
  const hostname = config.server.hostname;
  if (!((await exists(files.certificate)) && (await exists(files.key)))) {
    await mkdir(config.tls.directory, { recursive: true, mode: 0o700 });
    await promisify(execFile)("openssl", [
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-sha256", "-days", "3650",
      "-subj", `/CN=${hostname}`, "-addext", `subjectAltName=DNS:${hostname}`,
      "-keyout", files.key, "-out", files.certificate,
    ]).catch((error: NodeJS.ErrnoException) => {
      const why = error.code === "ENOENT" ? "the openssl command is not installed" : error.message;
      throw Object.assign(new Error(`cannot make a self-signed certificate (${why}): set tls.certificate and tls.key`), {
        code: "PETREL_NO_CERTIFICATE",
      });
    });
  }
  log.warn(
    { certificate: files.certificate, hostname },
    "no TLS certificate configured: using a self-signed one (set tls.certificate and tls.key)",
  );
}

/** What TLS sessions of one configuration use: the default certificate, and the others by server name. */
export type TlsSetup = {
  /** For tls.Server (submissions listeners), with SNICallback. */
  readonly options: SecureContextOptions & { SNICallback: SniCallback };
  /** For STARTTLS: the default context and the same SNICallback. */
  readonly context: SecureContext;
  readonly sni: SniCallback;
};

type SniCallback = (name: string, done: (error: Error | null, context?: SecureContext) => void) => void;

/** A certificate and its key as the configuration names them, e.g. "tls.certificate" and "tls.key". */
type Pair = { readonly certificate: string; readonly key: string; readonly names: readonly [string, string] };

/**
 * The pair's files read and checked (PEM, the key fits the certificate) into a SecureContext and its options; a
 * failure names the keys and files, as config check and a refused reload show it.
 */
async function secureContext(config: Config, { certificate, key, names }: Pair): Promise<{ options: SecureContextOptions; context: SecureContext }> {
  const [cert, keyPem] = await Promise.all([readDataFile(certificate, `${names[0]}: ${certificate}`), readDataFile(key, `${names[1]}: ${key}`)]);
  const options = {
    cert,
    key: keyPem,
    minVersion: config.tls.min_version,
    ciphers: config.tls.ciphers ?? DEFAULT_CIPHERS,
    // No renegotiation started by the client (a CPU-exhaustion lever), no TLS compression (CRIME).
    secureOptions: constants.SSL_OP_NO_RENEGOTIATION | constants.SSL_OP_NO_COMPRESSION,
  };
  try {
    return { options, context: createSecureContext(options) };
  } catch (error) {
    throw new Error(`${names[0]} ${certificate} and ${names[1]} ${key}: ${(error as Error).message}`, { cause: error });
  }
}

/** The certificates chosen by server name (SNI), with the keys that name them. */
function serverNamePairs(config: Config): Pair[] {
  return config.tls.server_names.map((entry, index) => ({
    certificate: entry.certificate,
    key: entry.key,
    names: [`tls.server_names[${index}].certificate`, `tls.server_names[${index}].key`],
  }));
}

/** For config check: reads and checks every certificate the configuration names (not a self-signed one to make). */
export async function checkCertificates(config: Config): Promise<void> {
  const files = certificateFiles(config);
  const pairs = serverNamePairs(config);
  if (!files.selfSigned) pairs.unshift({ certificate: files.certificate, key: files.key, names: ["tls.certificate", "tls.key"] });
  for (const pair of pairs) await secureContext(config, pair);
}

/** Reads every certificate of the configuration (each time: a SIGHUP picks up renewed files). */
export async function tlsSetup(config: Config): Promise<TlsSetup> {
  const files = certificateFiles(config);
  const defaults = await secureContext(config, { certificate: files.certificate, key: files.key, names: ["tls.certificate", "tls.key"] });
  const byName = new Map<string, SecureContext>();
  const pairs = serverNamePairs(config);
  for (const [index, entry] of config.tls.server_names.entries()) {
    byName.set(entry.name.toLowerCase(), (await secureContext(config, pairs[index]!)).context);
  }
  const sni: SniCallback = (name, done) => {
    const lower = name.toLowerCase();
    const wildcard = `*${lower.slice(lower.indexOf("."))}`;
    done(null, byName.get(lower) ?? byName.get(wildcard)); // undefined: the default certificate
  };
  return { options: { ...defaults.options, SNICallback: sni }, context: defaults.context, sni };
}
