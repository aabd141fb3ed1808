// Durations and sizes as administrators write them, turned into the plain numbers the rest of Petrel uses
// (milliseconds, bytes), and back again for `petrel config check`.
//
// Durations: an integer number of milliseconds, or a number with one unit: ms, s, m, h, d, w
//   ("30s", "5m", "1.5h", "2d"). The result must be a whole number of milliseconds.
// Sizes: an integer number of bytes, or a number with one unit (letter case is ignored):
//   B                       bytes
//   kB  MB  GB  TB          1000-based (SI):  "50MB" = 50 000 000
//   KiB MiB GiB TiB         1024-based (IEC): "10MiB" = 10 485 760
//   k   M   G   T           1024-based, as in Exim, nginx and sendmail: "512k" = 524 288
// This file never reads configuration files nor reports errors: it answers a number or `undefined`.

const durationUnits = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

const sizeUnits = {
  b: 1,
  kb: 1000,
  mb: 1000 ** 2,
  gb: 1000 ** 3,
  tb: 1000 ** 4,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
} as const;

const amountWithUnit = /^(\d+(?:\.\d+)?) ?([a-zA-Z]+)$/;

function scaled(value: unknown, units: Readonly<Record<string, number>>, foldCase: boolean): number | undefined {
  if (typeof value === "number") return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  if (typeof value !== "string") return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return scaled(Number(text), units, foldCase);
  const match = amountWithUnit.exec(text);
  if (match === null) return undefined;
  const unit = foldCase ? match[2]!.toLowerCase() : match[2]!;
  const factor = Object.hasOwn(units, unit) ? units[unit] : undefined;
  if (factor === undefined) return undefined;
  const result = Number(match[1]) * factor;
  // "1.5ms" is not a whole number of milliseconds, but 0.1 * 1000 must still give 100: allow float noise only.
  const rounded = Math.round(result);
  if (Math.abs(result - rounded) > 1e-9 * Math.max(1, result) || !Number.isSafeInteger(rounded)) return undefined;
  return rounded;
}

/** "30s" → 30000; 1500 → 1500; anything else → undefined. */
export function parseDuration(value: unknown): number | undefined {
  return scaled(value, durationUnits, false);
}

/** "50MiB" → 52428800; "50MB" → 50000000; "512k" → 524288; 1000 → 1000; anything else → undefined. */
export function parseSize(value: unknown): number | undefined {
  return scaled(value, sizeUnits, true);
}

/** The shortest exact spelling: 300000 → "5m", 1500 → "1500ms", 0 → "0s". */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  for (const unit of ["w", "d", "h", "m", "s"] as const) {
    if (ms % durationUnits[unit] === 0) return `${ms / durationUnits[unit]}${unit}`;
  }
  return `${ms}ms`;
}

/** An exact spelling, binary units first: 52428800 → "50MiB", 50000000 → "50MB", 1000 → "1kB", 999 → "999B". */
export function formatSize(bytes: number): string {
  if (bytes === 0) return "0B";
  const preferred = ["TiB", "GiB", "MiB", "KiB", "TB", "GB", "MB", "kB"] as const;
  for (const unit of preferred) {
    const factor = sizeUnits[unit.toLowerCase() as keyof typeof sizeUnits];
    if (bytes % factor === 0) return `${bytes / factor}${unit}`;
  }
  return `${bytes}B`;
}
