/**
 * The versioned JSON schema of the episode log (one JSON object a line), and
 * migration of older lines. Version 1 is the first stored version; lines
 * without a version come from the pre-release format (episode fields at the
 * top level) and are migrated on read.
 */
import Ajv from 'ajv';

export const LOG_SCHEMA_VERSION = 1;

const step = {
  type: 'object',
  required: ['index', 'thought', 'code', 'status', 'observation', 'violations', 'raw', 'startedAt', 'endedAt', 'modelMs', 'kernelMs'],
  properties: {
    index: { type: 'integer', minimum: 0 },
    thought: { type: 'string' },
    code: { type: 'string' },
    modelCode: { type: 'string' },
    rewrites: {
      type: 'array',
      items: { type: 'object', required: ['from', 'to', 'why'], properties: { from: { type: 'string' }, to: { type: 'string' }, why: { type: 'string' } } }
    },
    risks: {
      type: 'array',
      items: { type: 'object', required: ['category', 'reason'], properties: { category: { type: 'string' }, reason: { type: 'string' }, line: { type: ['integer', 'null'] } } }
    },
    refused: { type: 'boolean' },
    status: { enum: ['ok', 'error', 'timeout', 'aborted', 'skipped', 'invalid'] },
    observation: { type: 'string' },
    error: { type: 'object', required: ['ename', 'evalue'], properties: { ename: { type: 'string' }, evalue: { type: 'string' } } },
    outputs: { type: 'array' },
    violations: { type: 'array', items: { type: 'object', required: ['kind', 'message'] } },
    cutOff: { type: 'boolean' },
    problems: { type: 'array', items: { type: 'string' } },
    repeatedError: { type: 'object', required: ['line'], properties: { line: { type: ['string', 'null'] } } },
    lastChance: { type: 'boolean' },
    temperature: { type: 'number', minimum: 0 },
    prefill: { type: 'string' },
    promptSha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
    raw: { type: 'string' },
    startedAt: { type: 'string' },
    endedAt: { type: 'string' },
    modelMs: { type: 'number' },
    kernelMs: { type: 'number' }
  }
};

export const LOG_RECORD_SCHEMA = {
  $id: 'https://datarus.lab/schema/episode-log-v1.json',
  title: 'Datarus Lab episode log line, version 1',
  type: 'object',
  required: ['v', 'type', 'at'],
  properties: {
    v: { const: LOG_SCHEMA_VERSION },
    at: { type: 'string' },
    type: { enum: ['episode', 'feedback', 'edit'] },
    episode: {
      type: 'object',
      required: ['schemaVersion', 'id', 'question', 'model', 'startedAt', 'status', 'steps', 'answer'],
      properties: {
        id: { type: 'string', minLength: 1 },
        question: { type: 'string' },
        model: { type: 'string' },
        notebook: { type: 'string' },
        context: { type: 'string' },
        startedAt: { type: 'string' },
        endedAt: { type: 'string' },
        status: { enum: ['running', 'answered', 'stopped', 'step_limit', 'error_limit', 'failed'] },
        reason: { type: 'string' },
        steps: { type: 'array', items: step },
        answer: { anyOf: [{ type: 'null' }, { type: 'object', required: ['thought', 'text'] }] },
        promptProfile: { type: 'string' },
        answerPromptSha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
        answerGrounding: {
          type: 'object',
          required: ['grounded', 'unsupported'],
          properties: { grounded: { type: 'boolean' }, unsupported: { type: 'array', items: { type: 'string' } } }
        },
        rejectedAnswers: {
          type: 'array',
          items: {
            type: 'object',
            required: ['afterSteps', 'raw', 'answer', 'unsupported', 'feedback', 'promptSha256'],
            properties: {
              afterSteps: { type: 'integer', minimum: 0 },
              raw: { type: 'string' },
              answer: { type: 'object', required: ['thought', 'text'] },
              kind: { enum: ['grounding', 'form'] },
              unsupported: { type: 'array', items: { type: 'string' } },
              problems: { type: 'array', items: { type: 'string' } },
              feedback: { type: 'string' },
              promptSha256: { type: 'string', pattern: '^[0-9a-f]{64}$' }
            }
          }
        },
        answerForm: {
          type: 'object',
          required: ['text', 'fixes', 'problems'],
          properties: {
            text: { type: 'string' },
            fixes: { type: 'array', items: { type: 'object', required: ['name', 'from', 'to', 'why'] } },
            problems: { type: 'array', items: { type: 'string' } }
          }
        },
        answerRequest: {
          type: 'object',
          required: ['afterSteps', 'reason', 'message'],
          properties: {
            afterSteps: { type: 'integer', minimum: 0 },
            reason: { enum: ['repeating', 'step_limit', 'error_limit', 'context'] },
            message: { type: 'string' },
            raw: { type: 'string' },
            nothingPrinted: { type: 'boolean' }
          }
        },
        observationCuts: {
          type: 'array',
          items: {
            type: 'object',
            required: ['afterSteps', 'step', 'kind', 'observation', 'cutChars'],
            properties: {
              afterSteps: { type: 'integer', minimum: 0 },
              step: { type: 'integer', minimum: 0 },
              kind: { enum: ['shortened', 'line'] },
              observation: { type: 'string' },
              cutChars: { type: 'integer', minimum: 0 }
            }
          }
        }
      }
    },
    episodeId: { type: 'string', minLength: 1 },
    step: { anyOf: [{ type: 'integer', minimum: 0 }, { type: 'null' }] },
    rating: { enum: ['up', 'down'] },
    original: { type: 'string' },
    edited: { type: 'string' }
  },
  allOf: [
    { if: { properties: { type: { const: 'episode' } } }, then: { required: ['episode'] } },
    { if: { properties: { type: { const: 'feedback' } } }, then: { required: ['episodeId', 'step', 'rating'] } },
    { if: { properties: { type: { const: 'edit' } } }, then: { required: ['episodeId', 'step', 'original', 'edited'] } }
  ]
} as const;

const ajv = new Ajv({ allErrors: true, strict: false });
export const validateLogRecord = ajv.compile(LOG_RECORD_SCHEMA);

/** Brings a parsed line to the current version, or says why it cannot be read. */
export function migrate(line: any): { record: any } | { error: string } {
  if (line && typeof line === 'object' && line.v === undefined && typeof line.id === 'string' && Array.isArray(line.steps)) {
    // Pre-release lines: the episode itself, without an envelope.
    return { record: { v: LOG_SCHEMA_VERSION, type: 'episode', at: line.endedAt ?? line.startedAt ?? '', episode: { schemaVersion: 1, ...line } } };
  }
  if (typeof line?.v === 'number' && line.v > LOG_SCHEMA_VERSION) {
    return { error: `written by a newer Datarus Lab (log schema v${line.v}; this one reads v${LOG_SCHEMA_VERSION}): upgrade to read it` };
  }
  return { record: line };
}
