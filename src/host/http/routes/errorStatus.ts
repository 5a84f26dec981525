/**
 * The one place where an error becomes an HTTP status: a table from the
 * contract's codes to statuses, and the error body the host answers with.
 */
import type { ErrorBody, ErrorEventData, HostErrorCode } from '../../../contract/errors';
import { DomainError } from '../../errors';

export const ERROR_STATUS: Readonly<Record<HostErrorCode, number>> = {
  unauthorized: 401,
  not_found: 404,
  method_not_allowed: 405,
  too_large: 413,
  invalid_json: 400,
  invalid_request: 400,
  path_outside: 400,
  unknown_model: 404,
  bad_model: 400,
  model_load_failed: 422,
  model_not_found: 404,
  no_model: 503,
  model_loading: 503,
  episodes_generating: 409,
  no_download: 400,
  already_downloading: 409,
  episode_busy: 409,
  too_many_episodes: 429,
  context_overflow: 400,
  prompt_too_long: 400,
  invalid_grammar: 400,
  no_log: 503,
  log_failed: 500,
  disk_full: 507,
  exists: 409,
  write_failed: 500,
  nothing_to_export: 404,
  internal_error: 500
};

/** The code and message of any error; anything not a domain error is the host's bug (`internal_error`). */
export function errorEvent(err: unknown): ErrorEventData & { code: HostErrorCode } {
  if (err instanceof DomainError) {
    return { code: err.code, message: err.message };
  }
  return { code: 'internal_error', message: err instanceof Error ? err.message : String(err) };
}

/** The status and JSON body of an error answer. */
export function errorResponse(err: unknown): { status: number; body: ErrorBody } {
  const { code, message } = errorEvent(err);
  const status = ERROR_STATUS[code];
  // `type` is there for OpenAI clients, which read error.message and error.type.
  return { status, body: { error: { code, message, type: status >= 500 ? 'server_error' : 'invalid_request_error' } } };
}
