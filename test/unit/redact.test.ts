import fc from 'fast-check';

import { REDACTED, Redactor, secretEnvValues } from '../../src/episode/redact';

const SECRETS = [
  'sk-proj-abcdefghijklmnopqrstuvwxyz123456',
  'ghp_abcdefghijklmnopqrstuvwxyz0123456789',
  'hf_ABCDEFGHIJKLMNOPQRSTUVWXYZabcd',
  'AKIAIOSFODNN7EXAMPLE',
  'xoxb-123456789012-abcdefghij',
  'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U'
];

describe('redaction', () => {
  const redactor = new Redactor(['my-env-secret-value-42']);

  it.each(SECRETS)('removes %s wherever it appears', secret => {
    for (const text of [secret, `key = "${secret}"`, `print('${secret}')`, `Traceback: invalid key ${secret} given`]) {
      const out = redactor.text(text);
      expect(out).not.toContain(secret);
      expect(out).toContain(REDACTED);
    }
  });

  it('removes credential assignments, bearer tokens, URL passwords and private keys', () => {
    const text = [
      'password = "hunter2hunter2"',
      "db_passwd: 'correct-horse'",
      'API_KEY=abcd1234efgh',
      'headers = {"Authorization": "Bearer abc.def.ghi.jkl.mno"}',
      'engine = create_engine("postgresql://analyst:s3cr3tpw@db:5432/sales")',
      '-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----'
    ].join('\n');
    const out = redactor.text(text);
    for (const secret of ['hunter2hunter2', 'correct-horse', 'abcd1234efgh', 'abc.def.ghi.jkl.mno', 's3cr3tpw', 'MIIEow']) {
      expect(out).not.toContain(secret);
    }
    expect(out).toContain('postgresql://analyst:[REDACTED]@db:5432/sales');
  });

  it('removes the values of credential-looking environment variables', () => {
    const env = { HOME: '/root', OPENAI_API_KEY: 'plain-value-no-pattern', DB_PASSWORD: 'short', PATH: '/usr/bin' };
    expect(secretEnvValues(env)).toEqual(['plain-value-no-pattern']);
    const r = new Redactor(secretEnvValues(env));
    expect(r.text('the key is plain-value-no-pattern.')).toBe('the key is [REDACTED].');
  });

  it('walks whole episodes and leaves ordinary analysis alone', () => {
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
