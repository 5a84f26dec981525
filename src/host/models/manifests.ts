/**
 * Model manifests: JSON files in the manifests folder, validated against
 * `models/schema/manifest.schema.json`, naming a GGUF inside the models folder.
 */
import Ajv, { ErrorObject } from 'ajv';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

import type { ManifestProblem, ModelManifest } from '../../contract';
import { profileNames } from '../../protocol/profiles';
import { DomainError } from '../errors';

/** A model request that names no usable manifest or file. */
export class ManifestError extends DomainError {
  constructor(message: string) {
    super('bad_model', message);
  }
}

export async function loadManifestSchema(manifestsDir: string): Promise<object> {
  return JSON.parse(await fs.readFile(path.join(manifestsDir, 'schema', 'manifest.schema.json'), 'utf8'));
}

export function formatAjvErrors(errors: ErrorObject[] | null | undefined): string {
  return (errors ?? []).map(e => `${e.instancePath || '(root)'} ${e.message}`).join('; ');
}

/** Reads and validates every `*.json` manifest in a folder. Bad ones are reported, not thrown. */
export async function loadManifests(
  manifestsDir: string
): Promise<{ manifests: Map<string, ModelManifest>; problems: ManifestProblem[] }> {
  const ajv = new Ajv({ allErrors: true, strict: true });
  const validate = ajv.compile<ModelManifest>(await loadManifestSchema(manifestsDir));
  const manifests = new Map<string, ModelManifest>();
  const problems: ManifestProblem[] = [];
  const entries = (await fs.readdir(manifestsDir)).filter(f => f.endsWith('.json')).sort();
  for (const file of entries) {
    let data: unknown;
    try {
      data = JSON.parse(await fs.readFile(path.join(manifestsDir, file), 'utf8'));
    } catch (err) {
      problems.push({ file, message: `not valid JSON: ${(err as Error).message}` });
      continue;
    }
    if (!validate(data)) {
      problems.push({ file, message: `does not match the manifest schema: ${formatAjvErrors(validate.errors)}` });
      continue;
    }
    if (data.promptProfile !== undefined && !profileNames().includes(data.promptProfile)) {
      problems.push({ file, message: `unknown promptProfile "${data.promptProfile}" (known: ${profileNames().join(', ')})` });
      continue;
    }
    if (manifests.has(data.name)) {
      problems.push({ file, message: `a second manifest named "${data.name}"` });
      continue;
    }
    manifests.set(data.name, data);
  }
  return { manifests, problems };
}

/**
 * Resolves a path given by a user or a request so that it stays inside `root`:
 * absolute paths and `..` that lead outside are refused.
 */
export async function resolveInside(root: string, requested: string): Promise<string> {
  // A models folder that does not exist yet (a fresh install) holds nothing, and refuses the same paths.
  const rootReal = await fs.realpath(root).catch(() => path.resolve(root));
  const candidate = path.resolve(rootReal, requested);
  if (!isInside(rootReal, candidate)) {
    throw new ManifestError(`"${requested}" is outside the models folder ${rootReal}`);
  }
  let real: string;
  try {
    real = await fs.realpath(candidate);
  } catch {
    throw new ManifestError(`no file "${requested}" in the models folder ${rootReal}`);
  }
  // A link inside the folder may point at a model kept elsewhere by the set-up (a
  // package cache, say); that is the administrator's choice, so only the name as
  // requested must stay inside.
  return real;
}

/**
 * Resolves a model path the user gave on the command line or in the config: it
 * is their own choice, so it may be anywhere. A relative path names a file in
 * the models folder, else one relative to the working folder.
 */
export async function resolveUserPath(modelsDir: string, requested: string): Promise<string> {
  if (!path.isAbsolute(requested)) {
    const inside = await resolveInside(modelsDir, requested).catch(() => null);
    if (inside) {
      return inside;
    }
  }
  try {
    return await fs.realpath(path.resolve(requested));
  } catch {
    throw new ManifestError(`no file "${requested}"${path.isAbsolute(requested) ? '' : ` in the models folder ${modelsDir} nor in ${process.cwd()}`}`);
  }
}

export function isInside(root: string, candidate: string): boolean {
  const rel = path.relative(root, candidate);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}
