/** Chat messages live in the protocol layer; re-exported here for the agent's users. */
export type { ChatMessage } from '../protocol/messages';
