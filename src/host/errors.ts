/**
 * The host's domain errors: what went wrong, as a code from the contract and a
 * message for the user. Engine, generator, downloads, exports and the CLI throw
 * these; only the HTTP layer turns a code into a status (`routes/errorStatus.ts`).
 */
import type { HostErrorCode } from '../contract/errors';

export class DomainError extends Error {
  constructor(
    readonly code: HostErrorCode,
    message: string
  ) {
    super(message);
  }
}
