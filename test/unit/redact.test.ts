/**
 * Redaction: one example per format of the table in src/episode/redact.ts, a
 * fast-check property that random secrets of every format in random
 * surroundings never survive, and ordinary analysis code that must survive.
 */
import fc from 'fast-check';

import { applyFormat, REDACTED, Redactor, SECRET_FORMATS, secretEnvValues } from '../../src/episode/redact';

const SECRETS = [
  'sk-proj-abcdefghijklmnopqrstuvwxyz123456',
  'ghp_abcdefghijklmnopqrstuvwxyz0123456789',
  'hf_ABCDEFGHIJKLMNOPQRSTUVWXYZabcd',
  'AKIAIOSFODNN7EXAMPLE',
  'xoxb-123456789012-abcdefghij',
  'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U'
];

/** For every format: a text in which it appears and the secret that must go. */
const EXAMPLES: Record<string, { text: string; secret: string }[]> = {
  'pem-private-key': [
    { text: 'k = """-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----"""', secret: 'MIIEowIBAAKCAQEA' },
    { text: 'print(open("id").read())\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\nAAAABG5vbmUAAAA', secret: 'AAAABG5vbmUAAAA' },
    { text: '"private_key": "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\\n-----END PRIVATE KEY-----\\n"', secret: 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASC' }
  ],
  'pgp-private-key': [
    { text: '-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBF0PGPsecretmaterial\n=abcd\n-----END PGP PRIVATE KEY BLOCK-----', secret: 'lQOYBF0PGPsecretmaterial' },
    { text: 'cut off:\n-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQOYBF0PGPsecretmaterial', secret: 'lQOYBF0PGPsecretmaterial' }
  ],
  'aws-access-key-id': [
    { text: 'aws_access_key_id = AKIAIOSFODNN7EXAMPLE', secret: 'AKIAIOSFODNN7EXAMPLE' },
    { text: '{"AccessKeyId": "ASIAY34FZKBOKMUTVV7A"}', secret: 'ASIAY34FZKBOKMUTVV7A' }
  ],
  'aws-session-token': [{ text: 'token=IQoJb3JpZ2luX2VjEOr//////////wEaCXVzLWVhc3QtMSJHMEUCIQ', secret: 'IQoJb3JpZ2luX2VjEOr//////////wEaCXVzLWVhc3QtMSJHMEUCIQ' }],
  'gcp-api-key': [{ text: 'key=AIzaSyA1234567890abcdefghijklmnopqrstu', secret: 'AIzaSyA1234567890abcdefghijklmnopqrstu' }],
  'gcp-oauth-token': [{ text: 'creds.token -> ya29.a0AfH6SMBabcdefghijklmnopqrstuv', secret: 'ya29.a0AfH6SMBabcdefghijklmnopqrstuv' }],
  'gcp-oauth-client-secret': [{ text: 'client secret GOCSPX-abcdefghijklmnopqrstuvwx', secret: 'GOCSPX-abcdefghijklmnopqrstuvwx' }],
  'azure-connection-string-key': [
    {
      text: 'DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFy==;EndpointSuffix=core.windows.net',
      secret: 'Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFy=='
    },
    { text: 'https://acct.blob.core.windows.net/c/f.csv?sv=2022-11-02&sig=AbCdEf%2BGhIjKlMn%3D', secret: 'AbCdEf%2BGhIjKlMn%3D' }
  ],
  'azure-client-secret': [{ text: 'secret: abc8Q~defghijklmnopqrstuvwxyz0123456789', secret: 'abc8Q~defghijklmnopqrstuvwxyz0123456789' }],
  'github-token': ['ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_'].map(p => ({ text: `git clone https://${p}A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8@github.com/x/y`, secret: `${p}A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8` })),
  'github-fine-grained-token': [{ text: 'GH=github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz', secret: 'github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz' }],
  'gitlab-token': [{ text: 'PRIVATE-TOKEN: glpat-xxxxXXXX1234yyyyZZZZ', secret: 'glpat-xxxxXXXX1234yyyyZZZZ' }],
  'slack-token': [
    { text: 'client = WebClient("xoxb-123456789012-1234567890123-AbCdEfGhIjKl")', secret: 'xoxb-123456789012-1234567890123-AbCdEfGhIjKl' },
    { text: 'xapp-1-A0123456789-abcdef', secret: 'xapp-1-A0123456789-abcdef' }
  ],
  'slack-webhook': [{ text: 'requests.post("https://hooks.slack.com/services/T000/B000/XXXXXXXX", json=m)', secret: 'T000/B000/XXXXXXXX' }],
  'stripe-key': [
    { text: 'stripe.api_key = sk_live_4eC39HqLyjWDarjtT1zdp7dc', secret: 'sk_live_4eC39HqLyjWDarjtT1zdp7dc' },
    { text: 'rk_live_51Habcdefghij0123', secret: 'rk_live_51Habcdefghij0123' },
    { text: 'whsec_abcdefghijklmnopqrstuvwx', secret: 'whsec_abcdefghijklmnopqrstuvwx' }
  ],
  'openai-anthropic-key': [
    { text: 'OpenAI(api_key="sk-proj-Ab12Cd34Ef56Gh78Ij90Kl12Mn34")', secret: 'sk-proj-Ab12Cd34Ef56Gh78Ij90Kl12Mn34' },
    { text: 'x-api-key: sk-ant-api03-AbCdEf0123456789abcdef', secret: 'sk-ant-api03-AbCdEf0123456789abcdef' }
  ],
  'huggingface-token': [{ text: 'login(token="hf_ABCDEFGHIJKLMNOPQRSTUVWXYZabcd")', secret: 'hf_ABCDEFGHIJKLMNOPQRSTUVWXYZabcd' }],
  'npm-token': [{ text: '//registry.npmjs.org/:_authToken=npm_abcdefghijklmnopqrstuvwxyz0123456789', secret: 'npm_abcdefghijklmnopqrstuvwxyz0123456789' }],
  'pypi-token': [{ text: 'twine upload -p pypi-AgEIcHlwaS5vcmcCJDAwMDAwMDAw', secret: 'pypi-AgEIcHlwaS5vcmcCJDAwMDAwMDAw' }],
  'twilio-api-key': [{ text: 'Client("SK0123456789abcdef0123456789abcdef", s)', secret: 'SK0123456789abcdef0123456789abcdef' }],
  'sendgrid-key': [{ text: 'SendGridAPIClient("SG.abcdefghijklmnopqrstuv.ABCDEFGHIJKLMNOPQRSTUVWXYZ0123")', secret: 'SG.abcdefghijklmnopqrstuv.ABCDEFGHIJKLMNOPQRSTUVWXYZ0123' }],
  jwt: [{ text: SECRETS[5], secret: SECRETS[5] }],
  'shopify-token': [{ text: 'shpat_0123456789abcdef0123456789abcdef', secret: 'shpat_0123456789abcdef0123456789abcdef' }],
  'digitalocean-token': [{ text: `dop_v1_${'a1'.repeat(32)}`, secret: `dop_v1_${'a1'.repeat(32)}` }],
  'databricks-token': [{ text: 'host, dapi0123456789abcdef0123456789abcdef', secret: 'dapi0123456789abcdef0123456789abcdef' }],
  'url-credentials': [
    { text: 'create_engine("postgresql://analyst:s3cr3tpw@db:5432/sales")', secret: 's3cr3tpw' },
    { text: 'HTTPS://user:Upper-Case-Scheme@host/x', secret: 'Upper-Case-Scheme' },
    { text: 'MongoClient("mongodb+srv://bob:mongo-pw-77@cluster0.x.mongodb.net")', secret: 'mongo-pw-77' },
    { text: 'redis://:redispass99@cache:6379/0', secret: 'redispass99' }
  ],
  'authorization-header': [
    { text: 'Authorization: Basic dXNlcjpwYXNzd29yZA==', secret: 'dXNlcjpwYXNzd29yZA==' },
    { text: 'headers = {"Authorization": "Bearer abc.def.ghi.jkl.mno"}', secret: 'abc.def.ghi.jkl.mno' },
    { text: "s.headers.update({'Authorization': 'Token 9944b09199c62bcf9418ad846dd0e4bb'})", secret: '9944b09199c62bcf9418ad846dd0e4bb' }
  ],
  'bearer-token': [{ text: 'curl -H "X-Auth: Bearer 0a1b2c3d4e5f6a7b8c9d"', secret: '0a1b2c3d4e5f6a7b8c9d' }],
  'quoted-assignment': [
    { text: 'password = "a b;c d"', secret: 'a b;c d' },
    { text: "db_passwd: 'correct horse'", secret: 'correct horse' },
    { text: 'conn = connect(host=h, password="p@ss; word")', secret: 'p@ss; word' },
    { text: 'aws_secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"', secret: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' },
    { text: 'os.environ["DB_PASS"] = "hunter2 again"', secret: 'hunter2 again' },
    { text: "os.environ.setdefault('API_TOKEN', 'tok;en value')", secret: 'tok;en value' },
    { text: '{"client_secret": "json secret value"}', secret: 'json secret value' }
  ],
  'quoted-env-assignment': [{ text: 'STRIPE_KEY = "rk test value"', secret: 'rk test value' }],
  'json-escaped-assignment': [{ text: '{"text": "{\\"password\\": \\"a b;c\\"}"}', secret: 'a b;c' }],
  'json-escaped-env-assignment': [{ text: '"MAIL_KEY=\\"mail key value\\""', secret: 'mail key value' }],
  'line-assignment': [
    { text: '[database]\npassword = a b;c d\nuser = bob', secret: 'a b;c d' },
    { text: 'db:\n  password: my yaml pass\n', secret: 'my yaml pass' }
  ],
  'line-env-assignment': [{ text: 'export SMTP_AUTH=mail relay pw\n', secret: 'mail relay pw' }],
  'unquoted-assignment': [
    { text: 'API_KEY=abcd1234efgh python run.py', secret: 'abcd1234efgh' },
    { text: 'x = 1; pwd: hunter22; y = 2', secret: 'hunter22' },
    { text: 'postgres session_token:ZXhhbXBsZQ99', secret: 'ZXhhbXBsZQ99' }
  ],
  'unquoted-env-assignment': [{ text: 'run with DB_PWD=swordfish42 and go', secret: 'swordfish42' }],
  prose: [
    { text: 'Note: the password is hunter2.', secret: 'hunter2' },
    { text: 'My API key was Zx81-Ab!', secret: 'Zx81-Ab!' },
    { text: 'the token is "t0k3n-value", keep it safe', secret: 't0k3n-value' }
  ]
};

describe('redaction', () => {
  const redactor = new Redactor(['my-env-secret-value-42']);

  it('has an example for every format of the table, and each example is caught by its own format', () => {
    expect(Object.keys(EXAMPLES).sort()).toEqual(SECRET_FORMATS.map(f => f.name).sort());
    for (const format of SECRET_FORMATS) {
      for (const { text, secret } of EXAMPLES[format.name]) {
        expect({ format: format.name, out: applyFormat(format, text) }).toEqual({ format: format.name, out: expect.not.stringContaining(secret) });
      }
    }
  });

  it.each(Object.entries(EXAMPLES))('removes %s', (_name, examples) => {
    for (const { text, secret } of examples) {
      const out = redactor.text(text);
      expect(out).not.toContain(secret);
      expect(out).toContain(REDACTED);
    }
  });

  it.each(SECRETS)('removes %s wherever it appears', secret => {
    for (const text of [secret, `key = "${secret}"`, `print('${secret}')`, `Traceback: invalid key ${secret} given`]) {
      const out = redactor.text(text);
      expect(out).not.toContain(secret);
      expect(out).toContain(REDACTED);
    }
  });

  it('keeps the parts around a secret: the user name of a URL, the name of an assignment', () => {
    expect(redactor.text('postgresql://analyst:s3cr3tpw@db:5432/sales')).toBe('postgresql://analyst:[REDACTED]@db:5432/sales');
    expect(redactor.text('password = "a b;c"')).toBe('password = "[REDACTED]"');
    expect(redactor.text('Authorization: Basic dXNlcjpwYXNz')).toBe('Authorization: Basic [REDACTED]');
  });

  it('removes the values of credential-looking environment variables', () => {
    const env = { HOME: '/root', OPENAI_API_KEY: 'plain-value-no-pattern', DB_PASSWORD: 'short', PATH: '/usr/bin', PWD: '/work/project', DB_PASS: 'pg-pass-1', MY_PWD: 'abcdefg' };
    expect(secretEnvValues(env)).toEqual(['plain-value-no-pattern', 'pg-pass-1', 'abcdefg']);
    const r = new Redactor(secretEnvValues(env));
    expect(r.text('the key is plain-value-no-pattern.')).toBe('the key is [REDACTED].');
    expect(r.text('connected with pg-pass-1')).toBe('connected with [REDACTED]');
  });

  it('leaves ordinary analysis code alone', () => {
    const code = [
      'token = tokenizer(x)',
      'tokens = tokenizer.encode(text)',
      'df.sort_values(by="n", key=lambda r: r.str.len())',
      'sorted(rows, key=lambda r: r[1])',
      'max_tokens = 512',
      'pwd = os.getcwd()',
      'sort_key = "price"',
      'for token in tokens:',
      'token_ids = enc.ids',
      'secret_count = 0',
      'password_ok = check(pw)',
      'API_KEY = os.environ["API_KEY"]',
      'print("Basic statistics of the data")',
      'The risk-adjusted return is 4.2%.',
      'Authorization is required for this endpoint.',
      'url = "https://example.com:8080/path"',
      "df = pd.read_csv('data/sales.csv')"
    ];
    for (const line of code) {
      expect(redactor.text(line)).toBe(line);
    }
    const episode = { question: 'mean of x?', steps: [{ code: 'df.x.mean()', observation: '2.0', outputs: [{ text: ['token_count = 5\n'] }] }] };
    expect(redactor.value(episode)).toEqual(episode);
  });

  it('never leaves a seeded secret, whatever surrounds it', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), fc.constantFrom(...SECRETS), fc.string({ maxLength: 40 }), (before, secret, after) => {
        expect(redactor.text(`${before} ${secret} ${after}`)).not.toContain(secret);
      }),
      { numRuns: 2000 }
    );
  });
});

// Random secrets of every format, for the property below.
const chars = (alphabet: string, min: number, max: number) =>
  fc.array(fc.constantFrom(...alphabet.split('')), { minLength: min, maxLength: max }).map(a => a.join(''));
const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const DIGITS = '0123456789';
const ALNUM = UPPER + LOWER + DIGITS;
const HEX = '0123456789abcdef';
const B64 = ALNUM + '+/';
/** A random password: starts with a letter and holds a digit, so it is never a number or a keyword. */
const password = (extra: string) =>
  fc.tuple(chars(LOWER, 1, 1), chars(ALNUM + extra, 6, 18), chars(DIGITS, 1, 1)).map(([a, b, c]) => a + b + c);
const name = (words: string[]) => fc.constantFrom(...words);

interface Seeded {
  text: string;
  secret: string;
}
const seeded = (arb: fc.Arbitrary<[string, string]>): fc.Arbitrary<Seeded> => arb.map(([text, secret]) => ({ text, secret }));
const token = (prefixes: string[], alphabet: string, min: number, max: number) =>
  seeded(fc.tuple(fc.constantFrom(...prefixes), chars(alphabet, min, max)).map(([p, body]) => [p + body, p + body]));

const GENERATORS: Record<string, fc.Arbitrary<Seeded>> = {
  'aws-access-key-id': token(['AKIA', 'ASIA'], UPPER + DIGITS, 16, 16),
  'aws-session-token': token(['FwoGZXIvYXdz', 'IQoJb3JpZ2lu'], B64, 20, 60),
  'gcp-api-key': token(['AIza'], ALNUM + '_-', 35, 35),
  'github-token': token(['ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_'], ALNUM, 36, 36),
  'github-fine-grained-token': token(['github_pat_'], ALNUM + '_', 40, 82),
  'gitlab-token': token(['glpat-'], ALNUM + '_-', 20, 20),
  'slack-token': token(['xoxb-', 'xoxp-'], DIGITS + '-' + LOWER, 20, 50),
  'stripe-key': token(['sk_live_', 'rk_live_', 'sk_test_'], ALNUM, 24, 99),
  'openai-anthropic-key': seeded(fc.tuple(fc.constantFrom('sk-', 'sk-proj-', 'sk-ant-api03-'), chars(ALNUM, 30, 60)).map(([p, b]) => [`${p}A1${b}`, `${p}A1${b}`])),
  'huggingface-token': token(['hf_'], ALNUM, 34, 34),
  'npm-token': token(['npm_'], ALNUM, 36, 36),
  'pypi-token': token(['pypi-'], ALNUM + '_-', 50, 120),
  'twilio-api-key': token(['SK'], HEX, 32, 32),
  'sendgrid-key': seeded(fc.tuple(chars(ALNUM, 22, 22), chars(ALNUM, 43, 43)).map(([a, b]) => [`SG.${a}.${b}`, `SG.${a}.${b}`])),
  jwt: seeded(fc.tuple(chars(ALNUM, 10, 30), chars(ALNUM, 10, 30), chars(ALNUM + '_-', 20, 43)).map(([a, b, c]) => [`eyJ${a}.eyJ${b}.${c}`, `eyJ${a}.eyJ${b}.${c}`])),
  'pem-private-key': seeded(
    fc.tuple(fc.constantFrom('RSA ', 'EC ', 'OPENSSH ', 'ENCRYPTED ', ''), chars(B64, 20, 64), fc.boolean()).map(([kind, body, whole]) => [
      `-----BEGIN ${kind}PRIVATE KEY-----\n${body}\n${whole ? `-----END ${kind}PRIVATE KEY-----` : ''}`,
      body
    ])
  ),
  'pgp-private-key': seeded(
    fc.tuple(chars(B64, 20, 64), fc.boolean()).map(([body, whole]) => [`-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n${body}\n${whole ? '-----END PGP PRIVATE KEY BLOCK-----' : ''}`, body])
  ),
  'url-credentials': seeded(
    fc
      .tuple(fc.constantFrom('https', 'HTTPS', 'Http', 'postgres', 'postgresql+psycopg2', 'mongodb+srv', 'redis', 'ftp'), chars(LOWER, 0, 8), password('-_.~!$&*+'))
      .map(([scheme, user, pw]) => [`${scheme}://${user}:${pw}@db.example.com:5432/x`, pw])
  ),
  'authorization-header': seeded(
    fc
      .tuple(fc.constantFrom('Basic', 'Bearer', 'Token'), chars(B64, 12, 40), fc.constantFrom('Authorization: ', '"Authorization": "', "'Authorization': '"))
      .map(([kind, value, head]) => [`${head}${kind} ${value}`, value])
  ),
  'quoted-assignment': seeded(
    fc
      .tuple(
        name(['password', 'db_password', 'PASSWORD', 'api_key', 'client_secret', 'auth_token', 'aws_secret_access_key', 'aws_session_token', 'DB_PASS']),
        fc.constantFrom('"', "'"),
        password(' ;,=:!@#%^&*'),
        fc.integer({ min: 0, max: 5 })
      )
      .map(([n, q, pw, form]) => {
        const forms = [`${n} = ${q}${pw}${q}`, `${n}=${q}${pw}${q}`, `${n}: ${q}${pw}${q}`, `{"${n}": "${pw}"}`, `os.environ["${n}"] = ${q}${pw}${q}`, `dict(${n}=${q}${pw}${q})`];
        return [forms[form], pw] as [string, string];
      })
  ),
  'env-setdefault': seeded(fc.tuple(name(['DB_PASS', 'API_TOKEN', 'MY_SECRET', 'SMTP_PWD']), password(' ;')).map(([n, pw]) => [`os.environ.setdefault("${n}", "${pw}")`, pw])),
  'unquoted-assignment': seeded(
    fc
      .tuple(name(['password', 'PASSWORD', 'DB_PASS', 'MY_PWD', 'api_key', 'STRIPE_KEY', 'GH_TOKEN', 'export DB_PASSWORD']), fc.constantFrom('=', ': ', ' = '), password('!@#%^&*-_+~'))
      .map(([n, sep, pw]) => [`${n}${sep}${pw}`, pw])
  ),
  'ini-line': seeded(fc.tuple(name(['password', 'db_password', 'secret']), password(' ;#')).map(([n, pw]) => [`\n${n} = ${pw}\n`, pw])),
  prose: seeded(
    fc.tuple(name(['the password is', 'The password was', 'my pwd is', 'the API key is', 'the token is']), password('!-_')).map(([lead, pw]) => [`${lead} ${pw}.`, pw])
  )
};

describe('redaction property', () => {
  const redactor = new Redactor();
  const surrounding = fc.string({ maxLength: 30 });
  // Next to a secret: nothing, a space, a quote, a bracket, a line end...
  const edge = fc.constantFrom('', ' ', '\n', '"', "'", '(', ')', ',', '=', ':', '\t', '[', '{');
  // Assignments end where a value ends: a line end, a space, a separator.
  const valueEnd = fc.constantFrom('\n', ' ', ';', ',', '\r\n');

  it.each(Object.keys(GENERATORS))('random %s secrets in random surroundings never survive', key => {
    const assignment = /assignment|setdefault|ini-line|prose/.test(key);
    fc.assert(
      fc.property(surrounding, edge, GENERATORS[key], assignment ? valueEnd : edge, surrounding, fc.constantFrom('plain', 'json', 'quoted'), (before, open, s, close, after, wrap) => {
        // Assignments and prose start where a statement starts.
        const lead = assignment ? `${before}\n` : `${before}${open}`;
        let text = `${lead}${s.text}${close}${after}`;
        if (wrap === 'json' && key !== 'ini-line') {
          text = JSON.stringify({ output: text });
        } else if (wrap === 'quoted' && !assignment) {
          text = `"${text}"`;
        }
        const out = redactor.text(text);
        expect(out).not.toContain(s.secret);
      }),
      { numRuns: 300 }
    );
  });
});
