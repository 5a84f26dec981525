/** Reads a server-sent-events response body, event by event (eventsource-parser does the parsing). */
import { createParser, EventSourceMessage } from 'eventsource-parser';

export async function readEvents(response: Response, onEvent: (event: EventSourceMessage) => void): Promise<void> {
  if (!response.body) {
    throw new Error('the response has no body to stream');
  }
  const parser = createParser({ onEvent });
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) {
      break;
    }
    parser.feed(decoder.decode(value, { stream: true }));
  }
  parser.feed(decoder.decode());
}

/** The message of a JSON error answer (`{"error": {"message"}}`), or the status line. */
export async function errorMessage(response: Response): Promise<string> {
  const text = await response.text();
  try {
    const body = JSON.parse(text);
    return body?.error?.message ?? body?.message ?? text;
  } catch {
    return text || `${response.status} ${response.statusText}`;
  }
}
