/**
 * Secrets never reach the training logs or the exports. Every string of an
 * episode is run through `Redactor.text` before it is written, and again at
 * export time (so logs written by older versions are safe too).
 *
 * What is recognised is the table `SECRET_FORMATS` below, one row a format,
 * each with a test (test/unit/redact.test.ts) and a property test that random
 * secrets of the format, in random surroundings, never survive. Values of
 * credential-looking environment variables of the process are removed
 * wherever they appear (`secretEnvValues`).
 *
 * Deliberately kept: ordinary code such as `token = tokenizer(x)`,
 * `key=lambda r: r[1]`, `max_tokens = 512` or `pwd = os.getcwd()` (a call, an
 * index, a number, a keyword, a reference to another variable's attribute).
 *
 * Pure: no DOM, no Node.
 */
export const REDACTED = '[REDACTED]';

export interface SecretFormat {
  name: string;
  /**
   * Global regular expression. Without a `secret` group the whole match is
   * replaced; with one, the match is `pre` + `secret` + `post` (named groups)
   * and only `secret` is replaced.
   */
  pattern: RegExp;
  /** Decides whether a matched `secret` really is one (assignments: not code). */
  accept?(secret: string, groups: Record<string, string | undefined>): boolean;
}

/** Where a name may start: not inside a word, or right after a JSON escape (`\\n`, `\\t`) of printed JSON. */
const NAME_START = '(?:(?<![A-Za-z0-9_])|(?<=\\\\[nrt]))';
/** A credential name starts where its run of name characters starts (dots and dashes included): linear time. */
const CREDENTIAL_START = '(?:(?<![A-Za-z0-9_.-])|(?<=\\\\[nrt]))';

/** Words whose assignment or mention marks the value as a credential (case-insensitive). */
const CREDENTIAL_WORD =
  '(?:passw(?:or)?d|passwd|passphrase|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|signing[_-]?key|encryption[_-]?key|' +
  'credentials?|auth[_-]?(?:key|token)|client[_-]?secret|session[_-]?(?:key|token)|(?<![a-z])pass(?![a-z])|conn(?:ection)?[_-]?str(?:ing)?)';

/**
 * A name containing a credential word: `password`, `DB_PASS`, `aws_secret_access_key`, `X-Api-Key`. The run
 * is taken whole, as an atomic group would (a lookahead captures it, the backreference consumes it), so a long
 * run of identifier characters costs linear time, not quadratic backtracking (200,000 characters: ~10 ms).
 */
const CREDENTIAL_NAME = `${CREDENTIAL_START}(?=[A-Za-z0-9_.-]*?${CREDENTIAL_WORD})(?=(?<name>[A-Za-z0-9_.-]+))\\k<name>`;

/** Upper-case environment-style names ending in a credential suffix: `STRIPE_KEY`, `DB_PWD`, `SMTP_AUTH`. */
const ENV_NAME = NAME_START + '[A-Z][A-Z0-9_]*_(?:KEY|PWD|PASS|AUTH|SECRET|TOKEN|PASSWORD|CREDENTIALS?)(?![A-Za-z0-9_])';

/** Between a name and its value: `=`, `:`, `"]` then `=` (os.environ[...] = …), `", "` (setdefault("X", "…")). */
const SEPARATOR = `(?:\\\\?["'\`]?\\s*\\]?\\s*(?:=|:|,)\\s*)`;

const PY_WORDS = new Set(['lambda', 'none', 'true', 'false', 'null', 'self', 'cls', 'not', 'and', 'or', 'if', 'else', 'in', 'is', 'yield', 'await', 'return', 'undefined', 'nil']);

/**
 * An unquoted value after `name =` is code, not a secret, when it calls,
 * indexes or reads an attribute (`tokenizer(x)`, `tokens[0]`, `cfg.password`),
 * is a number, a language keyword, a variable reference (`$X`, `{{ x }}`), or
 * a type annotation's type.
 */
function unquotedSecret(value: string): boolean {
  const v = value.trim();
  if (v.length < 3 || v === REDACTED) {
    return false;
  }
  if (/[([]/.test(v) || /^[-+]?\d{1,5}$/.test(v) || /^[-+]?\d*\.\d+$/.test(v) || /^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+$/.test(v)) {
    return false;
  }
  if (/^(?:\$|\{\{|%\(|<|\*+$|\.\.\.)/.test(v) || PY_WORDS.has(v.toLowerCase())) {
    return false;
  }
  if (/^(?:str|int|bytes|bool|float|Optional|SecretStr)$/.test(v)) {
    return false;
  }
  return true;
}

const quotedValue = (name: string, flags: string) =>
  new RegExp(`(?<pre>${name}${SEPARATOR}(?:[rbfuRBFU]{1,2})?(?<q>["'\`]))(?<secret>(?:\\\\.|(?!\\k<q>)[^\\\\\\n])+)(?<post>\\k<q>)`, flags);
/** The same inside a JSON-encoded text, where the quotes are escaped (`\\"password\\": \\"…\\"`). */
const escapedQuotedValue = (name: string, flags: string) =>
  new RegExp(`(?<pre>${name}${SEPARATOR}\\\\(?<q>["']))(?<secret>(?:(?!\\\\\\k<q>)[^\\n])+)(?<post>\\\\\\k<q>)`, flags);
const unquotedValue = (name: string, flags: string) =>
  new RegExp(`(?<pre>${name}["']?\\s*(?:=|:)[ \\t]*)(?<secret>(?:(?!\\\\[nrt"])[^\\s"'\`,;)}\\]])+)`, flags);
const lineValue = (name: string, flags: string) =>
  new RegExp(`(?<pre>^[ \\t]*(?:export[ \\t]+|set[ \\t]+|-[ \\t]+)?${name}[ \\t]*(?:=|:)[ \\t]*)(?<secret>[^\\s"'\`][^\\n]*)`, flags);

/** The formats recognised, in the order they are applied. */
export const SECRET_FORMATS: readonly SecretFormat[] = [
  // Private keys first, whole blocks; a block cut off before its END line goes to the end of the text.
  {
    name: 'pem-private-key',
    pattern: /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|$)/g
  },
  { name: 'pgp-private-key', pattern: /-----BEGIN PGP PRIVATE KEY BLOCK-----[\s\S]*?(?:-----END PGP PRIVATE KEY BLOCK-----|$)/g },
  // Cloud providers.
  { name: 'aws-access-key-id', pattern: /(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA|APKA|ASCA)[0-9A-Z]{16,}/g },
  { name: 'aws-session-token', pattern: /(?:FwoGZXIvYXdz|IQoJb3JpZ2lu|IQoJb3JpZ2luX2Vj)[A-Za-z0-9/+=]{16,}/g },
  { name: 'gcp-api-key', pattern: /AIza[0-9A-Za-z_-]{30,}/g },
  { name: 'gcp-oauth-token', pattern: /ya29\.[0-9A-Za-z_-]{20,}/g },
  { name: 'gcp-oauth-client-secret', pattern: /GOCSPX-[0-9A-Za-z_-]{20,}/g },
  { name: 'azure-connection-string-key', pattern: /(?<pre>(?:AccountKey|SharedAccessKey|SharedAccessSignature|sig)=)(?<secret>[A-Za-z0-9%+/=_-]{8,})/g },
  { name: 'azure-client-secret', pattern: /[A-Za-z0-9_~.-]{3}\dQ~[A-Za-z0-9_~.-]{31,34}/g },
  // Token prefixes.
  { name: 'github-token', pattern: /gh[pousr]_[A-Za-z0-9]{20,}/g },
  { name: 'github-fine-grained-token', pattern: /github_pat_[A-Za-z0-9_]{22,}/g },
  { name: 'gitlab-token', pattern: /gl(?:pat|ptt|dt|rt|cbt|soat|ffct|agent)-[A-Za-z0-9_-]{16,}/g },
  { name: 'slack-token', pattern: /xox[abposre]-[A-Za-z0-9-]{10,}|xapp-\d-[A-Za-z0-9-]{10,}/g },
  { name: 'slack-webhook', pattern: /hooks\.slack\.com\/(?:services|workflows)\/[A-Za-z0-9/_-]+/g },
  { name: 'stripe-key', pattern: /(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,}|whsec_[A-Za-z0-9]{20,}/g },
  // OpenAI (sk-, sk-proj-, sk-svcacct-) and Anthropic (sk-ant-): a long run of letters and digits, so "risk-adjusted-returns-2023" stays.
  { name: 'openai-anthropic-key', pattern: /(?<secret>sk-[A-Za-z0-9_-]{20,})/g, accept: key => /\d/.test(key) && /[A-Za-z0-9]{16}/.test(key) },
  { name: 'huggingface-token', pattern: /hf_[A-Za-z0-9]{20,}/g },
  { name: 'npm-token', pattern: /npm_[A-Za-z0-9]{30,}/g },
  { name: 'pypi-token', pattern: /pypi-[A-Za-z0-9_-]{16,}/g },
  { name: 'twilio-api-key', pattern: /SK[0-9a-f]{32,}/g },
  { name: 'sendgrid-key', pattern: /SG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}/g },
  { name: 'jwt', pattern: /eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/g },
  { name: 'shopify-token', pattern: /shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32,}/g },
  { name: 'digitalocean-token', pattern: /do[opr]_v1_[a-f0-9]{64,}/g },
  { name: 'databricks-token', pattern: /dapi[a-f0-9]{32,}/g },
  // Credentials in URLs, any scheme, any case: HTTPS://user:pass@host, postgres://, mongodb+srv://, redis://:pass@.
  // The scheme starts where a run of scheme characters starts (linear time on long runs).
  { name: 'url-credentials', pattern: /(?<pre>(?<![A-Za-z0-9+.-])[A-Za-z0-9+.-]+:\/\/[^\s:/@'"`]*:)(?<secret>[^\s@/'"`]+)(?<post>@)/g },
  // Authorization headers and bare bearer tokens.
  {
    name: 'authorization-header',
    pattern: /(?<pre>Authori[sz]ation(?:\\?["']\s*[:=,]|\s*[:=])\s*\\?["']?(?:(?:Bearer|Basic|Token|Digest|Bot|ApiKey|Key)\s+)?)(?<secret>[^\s"',;]{6,})/gi
  },
  { name: 'bearer-token', pattern: /(?<pre>(?:Bearer|Basic|Token)\s+)(?<secret>[A-Za-z0-9._~+/=-]{12,})/g, accept: value => /\d/.test(value) || /[+/=]/.test(value) },
  // Assignments in code, config (YAML, JSON, INI, .env) and shell: quoted values whole (spaces and `;` included).
  // Names are matched in any case; environment-style names (`STRIPE_KEY`) only in upper case, so `sort_key = "price"` stays.
  { name: 'quoted-assignment', pattern: quotedValue(CREDENTIAL_NAME, 'gi'), accept: value => value.trim().length > 0 },
  { name: 'quoted-env-assignment', pattern: quotedValue(ENV_NAME, 'g'), accept: value => value.trim().length > 0 },
  { name: 'json-escaped-assignment', pattern: escapedQuotedValue(CREDENTIAL_NAME, 'gi'), accept: value => value.trim().length > 0 },
  { name: 'json-escaped-env-assignment', pattern: escapedQuotedValue(ENV_NAME, 'g'), accept: value => value.trim().length > 0 },
  // Unquoted values on a line of their own (`password = a b;c` in an INI file): to the end of the line.
  { name: 'line-assignment', pattern: lineValue(CREDENTIAL_NAME, 'gim'), accept: unquotedSecret },
  { name: 'line-env-assignment', pattern: lineValue(ENV_NAME, 'gm'), accept: unquotedSecret },
  { name: 'unquoted-assignment', pattern: unquotedValue(CREDENTIAL_NAME, 'gi'), accept: unquotedSecret },
  { name: 'unquoted-env-assignment', pattern: unquotedValue(ENV_NAME, 'g'), accept: unquotedSecret },
  // Prose: "the password is hunter2", "my API key was abc123" ("pwd: hunter2" is an assignment above).
  {
    name: 'prose',
    pattern: /(?<pre>(?:password|passwd|passphrase|pwd|passcode|secret|token|api key|access key|secret key)\s+(?:is|was|are)\s*:?\s+["'`]?)(?<secret>\S+?)(?=[.,;!?"'`)\]]*(?:[\s\\[\](){}<>|]|$))/gi,
    accept: value => unquotedSecret(value) && !/^(?:the|a|an|not|set|required|missing|invalid|empty|none|null|incorrect|wrong|correct|valid|expired|too|also|stored|needed|used|that|this|safe|kept|here|there|hidden|secret|private|shared|sent|given|changed)$/i.test(value)
  }
];

const SECRET_ENV_NAME = /(?:KEY|TOKEN|SECRET|PASS(?:WORD|WD|PHRASE)?|_PWD|CREDENTIALS?|AUTH|COOKIE|SESSION|SIGNATURE|PRIVATE|DSN|CONN(?:ECTION)?_?STR(?:ING)?)/i;
/** Names that match the pattern but hold no secret (`PWD` is the working directory). */
const NOT_SECRET_ENV = /^(?:OLD)?PWD$|^(?:XAUTHORITY|SSH_AUTH_SOCK|GPG_AGENT_INFO|KEYTIMEOUT|PASSWORD_STORE_DIR)$/i;

/** Values of environment variables whose names look like credentials (long enough to be worth it). */
export function secretEnvValues(env: Record<string, string | undefined>): string[] {
  return Object.entries(env)
    .filter(([name, value]) => SECRET_ENV_NAME.test(name) && !NOT_SECRET_ENV.test(name) && typeof value === 'string' && value.length >= 6)
    .map(([, value]) => value as string)
    .sort((a, b) => b.length - a.length);
}

/** Applies one format to a text. */
export function applyFormat(format: SecretFormat, text: string): string {
  format.pattern.lastIndex = 0;
  return text.replace(format.pattern, (...args: unknown[]) => {
    const match = args[0] as string;
    const last = args[args.length - 1];
    const groups = (typeof last === 'object' && last !== null ? last : {}) as Record<string, string | undefined>;
    if (groups.secret === undefined) {
      return REDACTED;
    }
    if (groups.secret === REDACTED || groups.secret.includes(REDACTED) || (format.accept && !format.accept(groups.secret, groups))) {
      return match;
    }
    return `${groups.pre ?? ''}${REDACTED}${groups.post ?? ''}`;
  });
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
    for (const format of SECRET_FORMATS) {
      out = applyFormat(format, out);
    }
    return out;
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
