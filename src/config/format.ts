// Prints a Config back as TOML, durations and sizes in units ("5m", "50MiB"), for `petrel config check`.
// The output is the effective configuration: defaults filled in, paths absolute, listener names given, and it
// parses back to the same Config. This file must never drop or invent a key.

import { stringify } from "smol-toml";
import type { Config } from "./schema.ts";
import { mapValueKinds } from "./shape.ts";
import { formatDuration, formatSize } from "./units.ts";

export function formatConfig(config: Config): string {
  const spelled = mapValueKinds(config, (kind, value) => {
    if (typeof value !== "number") return value;
    if (kind === "duration") return formatDuration(value);
    if (kind === "size") return formatSize(value);
    return value;
  });
  return stringify(spelled);
}
