// A stand-in for the model host (lib-node/cli/index.js of a checkout), for the server extension's tests:
// `serve --socket PATH` on a unix socket, the bearer token from $DATARUS_HOST_TOKEN, the host's stderr lines
// that the crash guard reads. $FAKE_HOST_MODE picks a misbehaviour: crash-at-start, or none.
'use strict';
const fs = require('node:fs');
const http = require('node:http');

const args = process.argv.slice(2);
const socket = args[args.indexOf('--socket') + 1];
const token = process.env.DATARUS_HOST_TOKEN;
const mode = process.env.FAKE_HOST_MODE || '';

process.stderr.write(`datarus host argv: ${args.join(' ')}\n`);
process.stderr.write(`datarus host backend: ${mode === 'crash-at-start' ? 'cuda' : 'cpu'}\n`);
if (mode === 'crash-at-start') {
  process.exit(134);
}

const event = (name, data) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;

const server = http.createServer((req, res) => {
  if (!token || req.headers.authorization !== `Bearer ${token}`) {
    res.writeHead(401, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ error: { code: 'unauthorized', message: 'bad token' } }));
    return;
  }
  let body = '';
  req.on('data', chunk => (body += chunk));
  req.on('end', () => {
    if (req.url === '/api/status') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ state: 'ready', pid: process.pid }));
    } else if (req.url === '/api/echo') {
      res.writeHead(201, { 'Content-Type': 'application/json', 'X-Fake-Host': 'yes' });
      res.end(JSON.stringify({ method: req.method, body, contentType: req.headers['content-type'] ?? null }));
    } else if (req.url === '/api/generate') {
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      for (const text of ['one ', 'two ', 'three']) {
        res.write(event('chunk', { text }));
      }
      res.end(event('done', { text: 'one two three', stopReason: 'eos' }));
    } else if (req.url === '/api/die-mid-stream') {
      // One whole event, then half of one, then the process is gone.
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      res.write(event('chunk', { text: 'partial ' }));
      res.write('event: chunk\ndata: {"te', () => setTimeout(() => process.exit(1), 50));
    } else if (req.url === '/v1/die-mid-stream') {
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      res.write(`data: ${JSON.stringify({ choices: [{ delta: { content: 'partial' } }] })}\n\n`, () => setTimeout(() => process.exit(1), 50));
    } else if (req.url === '/api/die-mid-json') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.write('{"text": "cut', () => setTimeout(() => process.exit(1), 50));
    } else {
      res.writeHead(404, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'not_found', message: req.url } }));
    }
  });
});

// The socket of a host that died is still there, as the real host finds it.
fs.rmSync(socket, { force: true });
server.listen(socket, () => process.stderr.write('datarus host ready: backend cpu, model fake\n'));
// Like the real host's --exit-with-stdin: the Jupyter server is gone when stdin closes.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
