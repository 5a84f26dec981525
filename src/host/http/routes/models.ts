/** `/api/models`: the manifests and whether each file is present, loading a model, downloads. */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { JSONSchemaType } from 'ajv';

import type { LoadModelRequest, LoadModelResponse, ModelEntry, ModelsResponse, PullCancelRequest, PullCancelResponse, PullRequest, PullsResponse } from '../../../contract';
import type { Engine } from '../../engine';
import { DomainError } from '../../errors';
import type { PullTable } from '../../models/pull';
import { bodySchema, NullableOptionals, Route, route, sendJson } from './route';

type LoadBody = NullableOptionals<LoadModelRequest>;

const loadBody = bodySchema<LoadBody>({
  description: 'body must be {"model": "<manifest name or .gguf path>", "contextSize"?: integer ≥ 128}',
  type: 'object',
  required: ['model'],
  properties: {
    model: { type: 'string', minLength: 1 },
    contextSize: { type: 'integer', nullable: true, minimum: 128 }
  }
} satisfies JSONSchemaType<LoadBody>);

type PullBody = NullableOptionals<PullRequest>;

const pullBody = bodySchema<PullBody>({
  description: 'body must be {"model": "<manifest name>", "url"?: "<address>"}',
  type: 'object',
  required: ['model'],
  properties: {
    model: { type: 'string' },
    url: { type: 'string', nullable: true }
  }
} satisfies JSONSchemaType<PullBody>);

const cancelBody = bodySchema<PullCancelRequest>({
  description: 'body must be {"model": "<manifest name>"}',
  type: 'object',
  required: ['model'],
  properties: { model: { type: 'string' } }
} satisfies JSONSchemaType<PullCancelRequest>);

export function modelRoutes(engine: Engine, pulls: PullTable): Route[] {
  return [
    route('GET', /^\/api\/models$/, null, async ({ res }) => sendJson(res, 200, await listModels(engine))),
    route('POST', /^\/api\/models\/load$/, loadBody, async ({ res, body }) => {
      const loaded = await engine.load(body.model, body.contextSize ?? undefined);
      const answer: LoadModelResponse = { model: loaded.name, path: loaded.path, contextSize: engine.contextSize };
      sendJson(res, 200, answer);
    }),
    route('GET', /^\/api\/models\/pulls$/, null, async ({ res }) => sendJson(res, 200, { pulls: pulls.list() } satisfies PullsResponse)),
    route('POST', /^\/api\/models\/pull$/, pullBody, async ({ res, body }) => {
      const manifest = engine.manifests.get(body.model);
      if (!manifest) {
        throw new DomainError('unknown_model', `no manifest named "${body.model}"`);
      }
      sendJson(res, 202, pulls.start(manifest, body.url ?? undefined));
    }),
    route('POST', /^\/api\/models\/pull\/cancel$/, cancelBody, async ({ res, body }) => sendJson(res, 200, { cancelled: pulls.cancel(body.model) } satisfies PullCancelResponse))
  ];
}

async function listModels(engine: Engine): Promise<ModelsResponse> {
  const models: ModelEntry[] = [];
  for (const manifest of engine.manifests.values()) {
    const present = await fs
      .stat(path.join(engine.modelsDir, manifest.file))
      .then(s => s.isFile())
      .catch(() => false);
    models.push({ ...manifest, downloaded: present, loaded: engine.loaded?.manifest?.name === manifest.name });
  }
  return { models };
}
