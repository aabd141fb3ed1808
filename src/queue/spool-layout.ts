// Where things live inside the spool directory. One place names the folders, so the writer, the
// recovery and the CLI can never disagree about them:
//   body/<id>      the immutable message bytes
//   tmp/<id>       an envelope being written (never a message: removed at recovery)
//   <state>/<id>   the envelope of a message in that state
// This file only computes names; it must never touch the disk.

import { join } from "node:path";

export const spoolStates = ["incoming", "active", "deferred", "hold", "quarantine", "corrupt"] as const;

export type State = (typeof spoolStates)[number];

/** The states a healthy message can be in; `corrupt` holds what recovery moved aside. */
export const liveStates = ["incoming", "active", "deferred", "hold", "quarantine"] as const satisfies readonly State[];

export const bodyFolder = "body";
export const tmpFolder = "tmp";

/** Every folder the spool needs, in the order they are created. */
export const spoolFolders = [tmpFolder, bodyFolder, ...spoolStates] as const;

const safeId = /^[0-9A-Za-z_-]{1,64}$/;

/** Ids never contain a dot, so names like `<id>.1` in corrupt/ and editor files are told apart. */
export function isSafeId(id: string): boolean {
  return safeId.test(id);
}

export function isState(name: string): name is State {
  return (spoolStates as readonly string[]).includes(name);
}

export type SpoolPaths = {
  root: string;
  folder(name: (typeof spoolFolders)[number]): string;
  body(id: string): string;
  tmp(id: string): string;
  envelope(state: State, id: string): string;
};

export function spoolPaths(root: string): SpoolPaths {
  return {
    root,
    folder: (name) => join(root, name),
    body: (id) => join(root, bodyFolder, id),
    tmp: (id) => join(root, tmpFolder, id),
    envelope: (state, id) => join(root, state, id),
  };
}
