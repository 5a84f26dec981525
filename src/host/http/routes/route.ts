/**
 * One endpoint of the host's API: its method, its path, the JSON schema its
 * body must match and its handler. The body is validated before the handler
 * runs, so every handler receives the type its schema declares
 * (`JSONSchemaType<T>`: the compiler checks that the schema and the type agree).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import Ajv, { ErrorObject, JSONSchemaType, ValidateFunction } from 'ajv';

import { DomainError } from '../../errors';
import { formatAjvErrors } from '../../models/manifests';

export type Method = 'GET' | 'POST' | 'DELETE';

/** What a handler is given: the validated body, the path's captured parts (percent-decoded). */
export interface Call<T> {
  body: T;
  params: string[];
  req: IncomingMessage;
  res: ServerResponse;
}

export interface Route {
  readonly method: Method;
  readonly path: RegExp;
  /** Validates `body` against the route's schema, then runs its handler. */
  handle(req: IncomingMessage, res: ServerResponse, body: unknown, params: string[]): Promise<void>;
}

/** A compiled body schema, with how its errors read to the user. */
export interface BodySchema<T> {
  /** Returns the body as `T`, or throws `invalid_request` with what is wrong. */
  parse(body: unknown): T;
}

// Union types (`"type": ["string", "array"]`) are how OpenAI's `stop` is declared.
const ajv = new Ajv({ allErrors: true, allowUnionTypes: true });

/**
 * Compiles a body schema. Its `description` says what the body must be and
 * leads the error message; `describe` replaces that message where ajv's own
 * words would mislead (a `oneOf`, say).
 */
export function bodySchema<T>(schema: JSONSchemaType<T>, describe?: (errors: ErrorObject[]) => string | null): BodySchema<T> {
  const validate: ValidateFunction<T> = ajv.compile(schema);
  return {
    parse(body: unknown): T {
      if (validate(body)) {
        return body;
      }
      const errors = validate.errors ?? [];
      const details = describe?.(errors) ?? formatAjvErrors(errors);
      throw new DomainError('invalid_request', schema.description ? `${schema.description}: ${details}` : details);
    }
  };
}

/** A body type as it may arrive: an optional field may also be `null`, which means absent (as in OpenAI's API). */
export type Nullable<T> = { [K in keyof T]?: T[K] | null };

/** A contract's request type as it may arrive: its required fields as they are, its optional ones also `null`. */
export type NullableOptionals<T> = { [K in keyof T]: undefined extends T[K] ? T[K] | null : T[K] };

/** The fields that are there: `null` and `undefined` dropped. */
export function withoutNulls<T extends object>(value: Nullable<T>): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null && v !== undefined)) as T;
}

/** An endpoint; `schema` is `null` only for one that reads no body (a GET, or a POST whose path says it all). */
export function route<T>(method: Method, path: RegExp, schema: BodySchema<T> | null, handler: (call: Call<T>) => Promise<void>): Route {
  return {
    method,
    path,
    handle: async (req, res, body, params) => handler({ body: schema ? schema.parse(body) : (body as T), params, req, res })
  };
}

/** Answers with a JSON body. */
export function sendJson(res: ServerResponse, status: number, data: unknown): void {
  const body = JSON.stringify(data);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}
