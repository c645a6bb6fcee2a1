/**
 * The model side of queue jobs: `modelSpec` turns the CLI's model choice (checkpoint, or preset +
 * overrides + seed; src/cli/common.ts `resolveModel`) into the spec stored in each job, and
 * `SessionCache` gives a worker one engine session per (model, keep), loaded on first use and kept for
 * the worker's life. A checkpoint is re-hashed on the worker before loading, so a worker whose copy of
 * the file differs fails the job with that reason instead of writing another model's outputs.
 */
import path from 'node:path';
import { defaultSessionFactory, resolveModel, type ModelChoice, type Session, type SessionFactory } from '../cli/common.js';
import { hashFile, modelIdentity, type ModelSpec } from './jobs.js';

/** The spec of a model choice (hashes a checkpoint). @throws UsageError as `resolveModel` */
export async function modelSpec(choice: ModelChoice): Promise<ModelSpec> {
  const m = await resolveModel(choice);
  if (typeof m.source === 'string') return { kind: 'checkpoint', path: path.resolve(m.source), sha256: await hashFile(m.source) };
  return { kind: 'preset', preset: choice.preset ?? 'custom', config: m.source.config, seed: m.source.seed ?? 0 };
}

/** One engine session per (model identity, keep), created once and shared by the worker's jobs. */
export class SessionCache {
  #sessions = new Map<string, Promise<Session>>();

  constructor(private readonly createSession: SessionFactory = defaultSessionFactory) {}

  /** The session of a job's model. @throws Error when a checkpoint is missing or differs from the submitted one */
  get(model: ModelSpec, keep: number | null): Promise<Session> {
    const key = `${modelIdentity(model)}|${keep}`;
    let s = this.#sessions.get(key);
    if (!s) {
      s = this.#load(model, keep);
      this.#sessions.set(key, s);
      s.catch(() => this.#sessions.delete(key)); // a later job may find the file fixed
    }
    return s;
  }

  async #load(model: ModelSpec, keep: number | null): Promise<Session> {
    if (model.kind === 'checkpoint') {
      let sha: string;
      try {
        sha = await hashFile(model.path);
      } catch (e) {
        throw new Error(`checkpoint '${model.path}' is not readable on this worker: ${(e as Error).message}`);
      }
      if (sha !== model.sha256) throw new Error(`checkpoint '${model.path}' on this worker has sha256 ${sha.slice(0, 12)}…, the job was submitted with ${model.sha256.slice(0, 12)}…`);
      return this.createSession(model.path, { keep, device: 'cpu' });
    }
    return this.createSession({ config: model.config, seed: model.seed }, { keep, device: 'cpu' });
  }

  /** Disposes every session (after in-flight runs settle). */
  async dispose(): Promise<void> {
    const all = [...this.#sessions.values()];
    this.#sessions.clear();
    for (const s of all) (await s.catch(() => null))?.dispose();
  }
}
