// Samples the resident memory (VmRSS) of a server's whole process tree every ~50 ms while a load runs,
// and keeps the peaks: the peak of the sum over all processes, and each process's own peak.
// The tree is re-read every tenth sample (workers and Postfix daemons come and go), the memory of the
// known processes on every sample, so that sampling stays cheap on the machine it measures.
// It only observes; it must never change what the measured processes do.

import { setTimeout as delay } from "node:timers/promises";
import { processTree, residentBytes } from "./process-tree.ts";

const SAMPLE_INTERVAL_MS = 50;
const SAMPLES_PER_TREE_READ = 10;

/** Resident bytes per process at one instant. */
export type ResidentSet = Map<number, number>;

export type RssPeaks = { peakTotal: number; peakByProcess: ResidentSet; samples: number };

/** One reading of the whole tree below `root`. */
export async function readResidentSet(root: number): Promise<ResidentSet> {
  const pids = await processTree(root);
  const sizes = await Promise.all(pids.map((pid) => residentBytes(pid)));
  return new Map(pids.map((pid, index) => [pid, sizes[index] ?? 0]));
}

export function totalOf(set: ResidentSet): number {
  let total = 0;
  for (const bytes of set.values()) total += bytes;
  return total;
}

class RssSampler {
  readonly #root: number;
  #running = false;
  #loop: Promise<void> = Promise.resolve();
  #peaks: RssPeaks = { peakTotal: 0, peakByProcess: new Map(), samples: 0 };

  constructor(root: number) {
    this.#root = root;
  }

  start(): void {
    if (this.#running) throw new Error("the RSS sampler is already running");
    this.#running = true;
    this.#peaks = { peakTotal: 0, peakByProcess: new Map(), samples: 0 };
    this.#loop = this.#sampleUntilStopped();
  }

  /** Stops, takes one last sample, and returns the peaks seen since start(). */
  async stop(): Promise<RssPeaks> {
    this.#running = false;
    await this.#loop;
    return this.#peaks;
  }

  async #sampleUntilStopped(): Promise<void> {
    let pids: number[] = [];
    while (this.#running) {
      if (this.#peaks.samples % SAMPLES_PER_TREE_READ === 0) pids = await processTree(this.#root);
      const sizes = await Promise.all(pids.map((pid) => residentBytes(pid)));
      this.#record(pids, sizes);
      await delay(SAMPLE_INTERVAL_MS);
    }
    pids = await processTree(this.#root);
    this.#record(pids, await Promise.all(pids.map((pid) => residentBytes(pid))));
  }

  #record(pids: number[], sizes: number[]): void {
    const peaks = this.#peaks;
    let total = 0;
    pids.forEach((pid, index) => {
      const bytes = sizes[index] ?? 0;
      total += bytes;
      if (bytes > (peaks.peakByProcess.get(pid) ?? 0)) peaks.peakByProcess.set(pid, bytes);
    });
    peaks.peakTotal = Math.max(peaks.peakTotal, total);
    peaks.samples++;
  }
}

/** Runs `work` while sampling each tree in `roots`; returns its result and the peaks of each tree. */
export async function sampleDuring<T>(roots: readonly number[], work: () => Promise<T>): Promise<{ result: T; peaks: RssPeaks[] }> {
  const samplers = roots.map((root) => new RssSampler(root));
  for (const sampler of samplers) sampler.start();
  const stopAll = () => Promise.all(samplers.map((sampler) => sampler.stop()));
  let result: T;
  try {
    result = await work();
  } catch (error) {
    await stopAll();
    throw error;
  }
  return { result, peaks: await stopAll() };
}
