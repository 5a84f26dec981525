/**
 * Episode ids: unique within a browser session and readable in the log. The
 * kind is the prefix, so an Analyze episode and a Reflection stay apart.
 */
export type EpisodeKind = 'ep' | 'reflect';

let counter = 0;

export function newEpisodeId(kind: EpisodeKind = 'ep'): string {
  const random = Math.random().toString(36).slice(2, 8);
  return `${kind}-${Date.now().toString(36)}-${(++counter).toString(36)}-${random}`;
}
