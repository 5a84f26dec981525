/**
 * `/api/log`: the episode log (episodes, feedback, edits) and its exports.
 * Exports go into the log's `exports` folder, never elsewhere, never overwriting.
 */
import * as path from 'node:path';
import type { JSONSchemaType } from 'ajv';

import type { EditRequest, ExportRequest, FeedbackRequest, LogEpisodeResponse, LoggedResponse, LogSummary } from '../../../contract';
import { EXPORT_FORMATS, exportRows, ExportFilters, filtersFor, selectEpisodes, toNotebook } from '../../../episode/export';
import type { Episode } from '../../../episode/types';
import { DomainError } from '../../errors';
import type { EpisodeStore } from '../../episodes/episodeStore';
import { exportTarget, writeExport } from '../../episodes/exportFiles';
import { bodySchema, Nullable, NullableOptionals, Route, route, sendJson, withoutNulls } from './route';

/** Only the episode's outline is checked here: the store validates the whole record before writing it. */
interface EpisodeBody {
  episode: { id: string; steps: Record<string, unknown>[] };
}

const episodeBody = bodySchema<EpisodeBody>({
  description: 'body must be {"episode": <episode>}',
  type: 'object',
  required: ['episode'],
  properties: {
    episode: {
      type: 'object',
      required: ['id', 'steps'],
      properties: { id: { type: 'string' }, steps: { type: 'array', items: { type: 'object', required: [] } } }
    }
  }
} satisfies JSONSchemaType<EpisodeBody>);

const feedbackBody = bodySchema<FeedbackRequest>({
  description: 'body must be {"episodeId": string, "step": integer or null, "rating": "up" | "down"}',
  type: 'object',
  required: ['episodeId', 'step', 'rating'],
  properties: {
    episodeId: { type: 'string' },
    step: { anyOf: [{ type: 'integer' }, { type: 'null', nullable: true }] },
    rating: { type: 'string', enum: ['up', 'down'] }
  }
} satisfies JSONSchemaType<FeedbackRequest>);

const editBody = bodySchema<EditRequest>({
  description: 'body must be {"episodeId", "step", "original", "edited"}',
  type: 'object',
  required: ['episodeId', 'step', 'original', 'edited'],
  properties: {
    episodeId: { type: 'string' },
    step: { type: 'integer' },
    original: { type: 'string' },
    edited: { type: 'string' }
  }
} satisfies JSONSchemaType<EditRequest>);

/** Filters, too, may carry `null` for a filter that is not set. */
interface ExportBody extends NullableOptionals<Omit<ExportRequest, 'filters'>> {
  filters?: Nullable<ExportFilters> | null;
}

const exportBody = bodySchema<ExportBody>({
  description: `body must be {"format": one of ${EXPORT_FORMATS.join(', ')}, "filters"?: {...}, "path"?: "<file name inside the exports folder>"}`,
  type: 'object',
  required: ['format'],
  properties: {
    format: { type: 'string', enum: EXPORT_FORMATS },
    filters: {
      type: 'object',
      nullable: true,
      properties: {
        since: { type: 'string', nullable: true },
        until: { type: 'string', nullable: true },
        notebook: { type: 'string', nullable: true },
        model: { type: 'string', nullable: true },
        feedback: { type: 'string', nullable: true, enum: ['up', 'down', 'rated'] },
        minReward: { type: 'number', nullable: true },
        finished: { type: 'boolean', nullable: true },
        includeUnanswered: { type: 'boolean', nullable: true }
      }
    },
    path: { type: 'string', nullable: true, minLength: 1 }
  }
} satisfies JSONSchemaType<ExportBody>);

export function logRoutes(store: EpisodeStore | null): Route[] {
  const log = (): EpisodeStore => {
    if (!store) {
      throw new DomainError('no_log', 'this host was started without an episode log (--episodes-file)');
    }
    return store;
  };
  return [
    route('GET', /^\/api\/log$/, null, async ({ res }) => {
      const { episodes, skipped, migrated } = await log().read();
      sendJson(res, 200, { file: log().file, episodes: episodes.length, skipped, migrated } satisfies LogSummary);
    }),
    route('POST', /^\/api\/log\/episodes$/, episodeBody, async ({ res, body }) => {
      // The store checks the whole record against the log schema before it writes anything.
      await log().appendEpisode(body.episode as unknown as Episode);
      sendJson(res, 201, { logged: true, file: log().file } satisfies LogEpisodeResponse);
    }),
    route('POST', /^\/api\/log\/feedback$/, feedbackBody, async ({ res, body }) => {
      await log().appendFeedback(body.episodeId, body.step, body.rating);
      sendJson(res, 201, { logged: true } satisfies LoggedResponse);
    }),
    route('POST', /^\/api\/log\/edits$/, editBody, async ({ res, body }) => {
      await log().appendEdit(body.episodeId, body.step, body.original, body.edited);
      sendJson(res, 201, { logged: true } satisfies LoggedResponse);
    }),
    route('POST', /^\/api\/log\/export$/, exportBody, async ({ res, body }) => sendJson(res, 200, await exportLog(log(), body)))
  ];
}

/** Writes an export into the log's `exports` folder, or returns its rows. */
async function exportLog(store: EpisodeStore, { format, filters, path: target }: ExportBody) {
  const { episodes } = await store.read();
  const chosen = withoutNulls<ExportFilters>(filters ?? {});
  if (target === undefined || target === null) {
    const selected = selectEpisodes(episodes, filtersFor(format, chosen));
    // Redacted again: the log may predate a secret format, or have been written without redaction.
    return store.redactor.value(format === 'ipynb' ? { notebooks: selected.map(s => toNotebook(s)) } : { rows: exportRows(selected, format) });
  }
  const root = path.join(path.dirname(store.file), 'exports');
  return writeExport(episodes, format, await exportTarget(root, target), chosen, store.redactor);
}
