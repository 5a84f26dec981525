/** Chat messages in the OpenAI shape, which the host and remote servers both take. */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}
