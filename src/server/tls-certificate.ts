// The server's TLS certificate: the configured one, or a self-signed one for server.hostname that the primary
// makes (with the openssl command) at first start, keeps in tls.directory, and warns about. Workers turn the
// files into a SecureContext each time they apply a configuration, so a SIGHUP picks up renewed files
// without touching sessions in flight. It never serves a certificate whose files it could not read.

import { execFile } from "node:child_process";
import { access, mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { SecureContextOptions } from "node:tls";
import { promisify } from "node:util";
import type { Config } from "../config/schema.ts";
import type { Logger } from "../log/logs.ts";

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
    ]);
  }
  log.warn(
    { certificate: files.certificate, hostname },
    "no TLS certificate configured: using a self-signed one (set tls.certificate and tls.key)",
  );
}

/** The TLS settings of every TLS session this configuration starts (read from the files each time). */
export async function tlsOptions(config: Config): Promise<SecureContextOptions> {
  const files = certificateFiles(config);
  const [cert, key] = await Promise.all([readFile(files.certificate), readFile(files.key)]);
  return {
    cert,
    key,
    minVersion: config.tls.min_version,
    ...(config.tls.ciphers === undefined ? {} : { ciphers: config.tls.ciphers }),
  };
}
