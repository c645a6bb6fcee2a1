/**
 * sharp, loaded on first use. The ops package (`import 'reg4pru'`) must load without an image library
 * (libvips is ~20 MB of shared objects and a platform-specific optional dependency), so only the code
 * that reads or writes images (FIVES loading, `reg4pru infer`) calls {@link loadSharp}.
 * The type import below is erased at compile time and loads nothing.
 */
import type SharpModule from 'sharp';

export type Sharp = typeof SharpModule;

let pending: Promise<Sharp> | undefined;

/** The sharp default export, imported once on the first call. */
export function loadSharp(): Promise<Sharp> {
  pending ??= import('sharp').then((m) => m.default);
  return pending;
}
