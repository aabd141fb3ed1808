// Queue ids: the name of a message in the spool, in every log line and in `petrel queue`.
//
// An id is 14 characters of Crockford base32 (0-9 A-Z without I L O U), which sort as ASCII in the
// same order as their values:
//   9 characters  milliseconds since 1970 (45 bits, enough until the year 3084)
//   3 characters  a counter within that millisecond (32768 ids per millisecond)
//   2 characters  the worker number (0-1023)
// so the ids sort by creation time as strings and are safe as file names everywhere.
//
// Why they are unique:
// - within one process, the pair (millisecond, counter) only ever grows: if the clock stalls or steps
//   back the source keeps its last millisecond and counts on, and when the counter is used up it moves
//   to the next millisecond;
// - processes running at the same time have different worker numbers (the caller passes each worker's
//   slot, 0..n-1, not cluster's ever-growing worker.id);
// - a restarted process with the same worker number starts at a later millisecond than its predecessor
//   used. Only a wall clock stepped back across a restart could repeat an id; the spool creates body
//   files exclusively (O_EXCL), so even then a repeat fails loudly instead of overwriting a message.
// This file must never read randomness or shared state: the id depends on the clock, the counter and
// the worker number only.

const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const timeDigits = 9;
const counterDigits = 3;
const workerDigits = 2;
const counterLimit = 32 ** counterDigits;
const workerLimit = 32 ** workerDigits;

export const queueIdLength = timeDigits + counterDigits + workerDigits;

export function createQueueIdSource(worker: number, clock: () => number = Date.now): () => string {
  if (!Number.isInteger(worker) || worker < 0 || worker >= workerLimit) {
    throw new RangeError(`queue id worker number must be an integer from 0 to ${workerLimit - 1}, got ${worker}`);
  }
  const workerPart = encode(worker, workerDigits);
  let lastMillisecond = -1;
  let counter = 0;
  return () => {
    const now = Math.floor(clock());
    if (now > lastMillisecond) {
      lastMillisecond = now;
      counter = 0;
    } else if (++counter === counterLimit) {
      lastMillisecond += 1;
      counter = 0;
    }
    return encode(lastMillisecond, timeDigits) + encode(counter, counterDigits) + workerPart;
  };
}

/** The creation time (milliseconds since 1970) written into a queue id, or undefined if it is not one. */
export function queueIdTime(id: string): number | undefined {
  if (id.length !== queueIdLength) return undefined;
  let value = 0;
  for (let i = 0; i < queueIdLength; i++) {
    const digit = alphabet.indexOf(id.charAt(i));
    if (digit < 0) return undefined;
    if (i < timeDigits) value = value * 32 + digit;
  }
  return value;
}

/** The worker number written into a queue id, or undefined if it is not one. */
export function queueIdWorker(id: string): number | undefined {
  if (queueIdTime(id) === undefined) return undefined;
  const [high, low] = [alphabet.indexOf(id.charAt(queueIdLength - 2)), alphabet.indexOf(id.charAt(queueIdLength - 1))];
  return high * 32 + low;
}

function encode(value: number, digits: number): string {
  let text = "";
  let rest = value;
  for (let i = 0; i < digits; i++) {
    text = alphabet.charAt(rest % 32) + text;
    rest = Math.floor(rest / 32);
  }
  return text;
}
