// testssl.sh (Debian package) against the STARTTLS and the implicit TLS listener: no SSLv2/SSLv3/TLS 1.0/
// TLS 1.1, no weak cipher category, and no known vulnerability (no finding rated LOW or worse).

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Petrel, freePort } from "./support/petrel-process.ts";

const run = promisify(execFile);

type Finding = { id: string; severity: string; finding: string };

let petrel: Petrel;
let implicitPort: number;
let reports: string;

before(async () => {
  implicitPort = await freePort();
  reports = await mkdtemp(join(tmpdir(), "petrel-testssl-"));
  petrel = await Petrel.start({
    toml: `[[listener]]\nname = "465"\naddress = "127.0.0.1"\nport = ${implicitPort}\nrole = "submissions"`,
  });
});
after(async () => {
  await petrel.remove();
  await rm(reports, { recursive: true, force: true });
});

/** testssl.sh's protocol, cipher category and vulnerability checks; its findings. */
async function testssl(name: string, target: string, starttls: boolean): Promise<Finding[]> {
  const json = join(reports, `${name}.json`);
  const args = ["--quiet", "--color", "0", "--warnings", "off", "--jsonfile", json, "-p", "-s", "-U"];
  await run("testssl", [...args, ...(starttls ? ["-t", "smtp"] : []), target], { timeout: 170_000 }).catch((error: unknown) => {
    // testssl.sh exits non-zero when it found something; the report says what
    if (!(error as { stdout?: string }).stdout) throw error;
  });
  return JSON.parse(await readFile(json, "utf8")) as Finding[];
}

function check(findings: Finding[]): void {
  const byId = new Map(findings.map((finding) => [finding.id, finding]));
  for (const old of ["SSLv2", "SSLv3", "TLS1", "TLS1_1"]) assert.match(byId.get(old)?.finding ?? "", /^not offered/, old);
  assert.match(byId.get("TLS1_3")?.finding ?? "", /^offered/);
  const bad = findings.filter((finding) => ["LOW", "MEDIUM", "HIGH", "CRITICAL"].includes(finding.severity));
  assert.deepEqual(bad.map((finding) => `${finding.id}: ${finding.severity} ${finding.finding}`), []);
}

test("testssl.sh finds nothing to complain about, on STARTTLS (port 25 role) and on implicit TLS (465 role)", { timeout: 200_000 }, async () => {
  const [starttls, implicit] = await Promise.all([
    testssl("starttls", `127.0.0.1:${petrel.port}`, true),
    testssl("implicit", `127.0.0.1:${implicitPort}`, false),
  ]);
  check(starttls);
  check(implicit);
});
