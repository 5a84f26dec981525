/**
 * The error codes the model host answers with and the shape of its error
 * bodies: the one list that the host's status table and the browser's client
 * both read. Types and constants only (no DOM, no Node), so both builds compile it.
 */

/**
 * Codes of the host's domain errors and request checks. Each is a value of
 * `error.code` in an error body (and of `code` in a streamed `error` event);
 * the host's HTTP layer maps each to one status (`src/host/http/routes/errorStatus.ts`).
 */
export const HOST_ERROR_CODES = [
  // The request itself
  'unauthorized', // missing or wrong bearer token
  'not_found', // no such endpoint
  'method_not_allowed', // the endpoint exists, not with this method
  'too_large', // the body is over the host's limit
  'invalid_json', // the body is not JSON
  'invalid_request', // a field is missing, of the wrong type or out of range
  'path_outside', // a path from the request leaves its folder
  // Models
  'unknown_model', // no manifest of that name (pull)
  'bad_model', // not a manifest name nor a usable .gguf path (load)
  'model_load_failed', // the file is missing, not GGUF, truncated or rejected by llama.cpp
  'model_not_found', // an OpenAI request names a model this host does not serve
  'no_model', // nothing is loaded (or it is still loading)
  'model_loading', // another model is loading: generation waits for it
  'episodes_generating', // a load would cut off running generations
  'no_download', // the manifest's file is installed or generated, not downloaded
  'already_downloading', // a pull of that model is in progress
  // Generation
  'episode_busy', // the episode is already generating
  'too_many_episodes', // every episode slot is generating
  'context_overflow', // the prompt fills the context
  'prompt_too_long', // the prompt is too long to tokenize safely
  'invalid_grammar', // the grammar does not parse or is too complex
  // Episode log and exports
  'no_log', // the host runs without an episode log
  'log_failed', // the log could not be read or written
  'disk_full', // nothing was written: the disk is full
  'exists', // the export target exists: nothing was overwritten
  'write_failed', // the export could not be written
  'nothing_to_export', // no episode gives rows of that format
  // Anything else: a bug
  'internal_error'
] as const;

export type HostErrorCode = (typeof HOST_ERROR_CODES)[number];

/** Codes the Jupyter server extension answers with when the host itself is unreachable or died. */
export const SERVER_EXTENSION_ERROR_CODES = [
  'host_unavailable', // the host could not be started (or is being installed)
  'host_unreachable', // the host was started but did not answer; it is restarted on the next request
  'host_died' // the host stopped in the middle of an answer
] as const;

export type ServerExtensionErrorCode = (typeof SERVER_EXTENSION_ERROR_CODES)[number];

/** Every code an error body that reaches the browser can carry. */
export type ErrorCode = HostErrorCode | ServerExtensionErrorCode;

/** OpenAI clients read `error.type`: `server_error` for statuses from 500 up, else `invalid_request_error`. */
export type ErrorType = 'server_error' | 'invalid_request_error';

/** The JSON body of every error answer of the host (`{"error": {...}}`, as OpenAI's API answers too). */
export interface ErrorBody {
  error: {
    code: ErrorCode;
    message: string;
    /** Set by the host; absent from the server extension's own answers. */
    type?: ErrorType;
  };
}

/** The data of a streamed `error` event: a generation that failed after its first chunk. */
export interface ErrorEventData {
  code: ErrorCode;
  message: string;
}
