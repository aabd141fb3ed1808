// The embedded default: what Petrel runs with when no configuration file is given, and what a file that leaves
// out every [[listener]] listens on. Every other default lives beside its key in schema.ts, so that the schema
// stays the one place that says what a key means. This file must never read the environment or the disk.

/** The name `loadConfig()` reports as the source when no file was given. */
export const embeddedDefaultSource = "(embedded default)";

/** The text the embedded default is parsed from: no keys at all, so every default of the schema applies. */
export const embeddedDefaultText = "";

/** Loopback only, on an unprivileged port: a fresh install receives nothing from the network until told to. */
export const defaultListeners = [
  { address: "127.0.0.1", port: 2525, role: "mta" },
  { address: "::1", port: 2525, role: "mta" },
] as const;
