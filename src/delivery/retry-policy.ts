// When a deferred message is tried again, and when it has waited long enough to be returned. The wait doubles
// with each run from retry_min up to retry_max, and is spread by ±20 % so that mail deferred together (a
// destination that was down) does not come back all at once. Pure arithmetic on times; the caller owns the clock.

export type RetrySettings = {
  readonly retryMin: number;
  readonly retryMax: number;
  readonly maxLifetime: number;
  readonly delayWarning: number;
};

/** Milliseconds to wait after the `runs`-th run (1 = after the first attempt); `random` in [0, 1). */
export function retryDelay(settings: RetrySettings, runs: number, random: number = Math.random()): number {
  const doubled = settings.retryMin * 2 ** Math.min(Math.max(runs - 1, 0), 30);
  const wait = Math.min(doubled, settings.retryMax);
  return Math.max(1, Math.round(wait * (0.8 + 0.4 * random)));
}

/** Whether a message received at `receivedAt` has outlived max_lifetime at `now`. */
export function expired(settings: RetrySettings, receivedAt: number, now: number): boolean {
  return now - receivedAt >= settings.maxLifetime;
}

/** Whether a delay warning is due for a message received at `receivedAt` (delay_warning 0: never). */
export function delayWarningDue(settings: RetrySettings, receivedAt: number, now: number): boolean {
  return settings.delayWarning > 0 && now - receivedAt >= settings.delayWarning;
}
