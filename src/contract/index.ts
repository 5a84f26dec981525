/**
 * The contract between the browser and the model host: the shapes of what
 * they send each other. Types and constants only, no DOM and no Node: both
 * builds compile it, so a change on one side that the other does not follow
 * fails to compile.
 */
export type { ExportFilters, ExportFormat } from '../episode/export';
export type { ChatMessage } from '../protocol/messages';
export * from './errors';
export * from './generate';
export type * from './agentSession';
export type * from './models';
export type * from './requests';
export type * from './status';
