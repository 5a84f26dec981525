/**
 * Secrets never reach the training logs. Known key formats, credential
 * assignments, URLs with passwords, private keys, and the values of
 * credential-looking environment variables are replaced by `[REDACTED]`
 * everywhere in an episode before anything is written.
 */
export const REDACTED = '[REDACTED]';

const PATTERNS: RegExp[] = [
  /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g,
  /\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{16,}/g, // OpenAI / Anthropic style keys
  /\bgh[pousr]_[A-Za-z0-9]{20,}/g, // GitHub tokens
  /\bhf_[A-Za-z0-9]{20,}/g, // Hugging Face tokens
  /\bxox[abprs]-[A-Za-z0-9-]{10,}/g, // Slack tokens
  /\bAKIA[0-9A-Z]{16}\b/g, // AWS access key ids
  /\bAIza[0-9A-Za-z_-]{35}\b/g, // Google API keys
  /\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g, // JWTs
  /(?<=\b[Bb]earer\s+)[A-Za-z0-9._~+/=-]{12,}/g,
  /(?<=[a-z][a-z0-9+.-]*:\/\/[^\s:/@]+:)[^\s@/]+(?=@)/g // https://user:password@host
];

/** `password = "…"`, `api_key: '…'`, `TOKEN=…`: the value after a credential-looking name. */
const ASSIGNMENT =
  /(\b[\w.-]*(?:passw(?:or)?d|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|credential)[\w.-]*["']?\s*[:=]\s*)(["']?)([^\s"',;)}\]]{4,})\2/gi;

const SECRET_ENV_NAME = /(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH)/i;

/** Values of environment variables whose names look like credentials (long enough to be worth it). */
export function secretEnvValues(env: Record<string, string | undefined>): string[] {
  return Object.entries(env)
    .filter(([name, value]) => SECRET_ENV_NAME.test(name) && typeof value === 'string' && value.length >= 8)
    .map(([, value]) => value as string)
    .sort((a, b) => b.length - a.length);
}

export class Redactor {
  constructor(private readonly _exact: string[] = []) {}

  text(value: string): string {
    let out = value;
    for (const secret of this._exact) {
      if (out.includes(secret)) {
        out = out.split(secret).join(REDACTED);
      }
    }
    for (const pattern of PATTERNS) {
      out = out.replace(pattern, REDACTED);
    }
    return out.replace(ASSIGNMENT, (_m, name: string, quote: string, secret: string) =>
      secret === REDACTED ? `${name}${quote}${secret}${quote}` : `${name}${quote}${REDACTED}${quote}`
    );
  }

  /** A deep copy with every string redacted (keys are left as they are). */
  value<T>(value: T): T {
    if (typeof value === 'string') {
      return this.text(value) as unknown as T;
    }
    if (Array.isArray(value)) {
      return value.map(v => this.value(v)) as unknown as T;
    }
    if (value && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.value(v)])) as T;
    }
    return value;
  }
}
