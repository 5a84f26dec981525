/** A mistake in how a command was called: the CLI prints its message alone, without a stack. */
export class UsageError extends Error {
  name = 'UsageError';
}
