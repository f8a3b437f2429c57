// The peer beside fieldsync: PouchDB replicating over HTTP to a CouchDB-protocol server
// (express-pouchdb on PouchDB's memory adapter), as the Community Health Toolkit's
// devices replicate to CouchDB.
//
//   node peer.js server   listens on 127.0.0.1:<ephemeral>, prints {"port":N} on stdout,
//                         counts every HTTP request and its bytes; GET /_fieldsync/stats
//                         and POST /_fieldsync/reset (not counted) read and zero them.
//   node peer.js client   a device: reads one JSON command per line on stdin, answers one
//                         JSON line per command on stdout (see COMMANDS below).
//
// Both sides are real PouchDB. The device's database is an in-memory PouchDB; the remote
// is `new PouchDB(url, {adapter: 'http'})` so replication crosses the network (a memory
// default adapter would capture the URL and replicate in-process). Request bodies are
// counted from content-length, never by reading the stream (express-pouchdb reads it).
'use strict';

const http = require('http');
const readline = require('readline');

const PouchDB = require('pouchdb-core')
  .plugin(require('pouchdb-adapter-memory'))
  .plugin(require('pouchdb-adapter-http'))
  .plugin(require('pouchdb-mapreduce'))
  .plugin(require('pouchdb-replication'));

function server() {
  const express = require('express');
  const expressPouchDB = require('express-pouchdb');
  const ServerPouch = PouchDB.defaults({ adapter: 'memory' });
  const app = express();
  const zero = () => ({ requests: 0, bytes_in: 0, bytes_out: 0, body_in: 0, body_out: 0, paths: {} });
  let stats = zero();
  app.get('/_fieldsync/stats', (req, res) => res.json(stats));
  app.post('/_fieldsync/reset', (req, res) => { stats = zero(); res.json({ ok: true }); });
  app.use((req, res, next) => {
    stats.requests += 1;
    const key = `${req.method} ${req.path.replace(/^\/[^/]+/, '/db')}`;
    stats.paths[key] = (stats.paths[key] || 0) + 1;
    // Request: line + headers as sent, and the body by its declared length.
    let head = `${req.method} ${req.originalUrl} HTTP/${req.httpVersion}\r\n`.length + 2;
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      head += req.rawHeaders[i].length + req.rawHeaders[i + 1].length + 4;
    }
    const body = Number(req.headers['content-length'] || 0);
    stats.bytes_in += head + body;
    stats.body_in += body;
    // Response: the body as written, and the header block once it is sent.
    const write = res.write.bind(res);
    const end = res.end.bind(res);
    const size = (chunk, enc) => (chunk ? Buffer.byteLength(chunk, typeof enc === 'string' ? enc : undefined) : 0);
    res.write = (chunk, enc, cb) => { const n = size(chunk, enc); stats.bytes_out += n; stats.body_out += n; return write(chunk, enc, cb); };
    res.end = (chunk, enc, cb) => {
      const n = typeof chunk === 'function' ? 0 : size(chunk, enc);
      stats.bytes_out += n;
      stats.body_out += n;
      return end(chunk, enc, cb);
    };
    res.on('finish', () => { stats.bytes_out += (res._header || '').length; });
    next();
  });
  app.use('/', expressPouchDB(ServerPouch, { mode: 'minimumForPouchDB', inMemoryConfig: true, logPath: '/dev/null' }));
  const srv = http.createServer(app);
  srv.keepAliveTimeout = 120000;
  srv.listen(0, '127.0.0.1', () => {
    process.stdout.write(JSON.stringify({ port: srv.address().port }) + '\n');
  });
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}

// COMMANDS (one JSON object per line):
//   {"op":"load","docs":[...]}              write new docs into the device database
//   {"op":"edit","ids":[...],"path":["answers","q"],"value":v}
//                                          set one field of each doc (one revision each)
//   {"op":"push"|"pull","url":U,"timeout_ms":T}
//                                          one-shot replication to/from U; answers
//                                          {"ok","ms","docs_written","docs_read","error"}
//   {"op":"info","url":U}                  the remote's doc_count (direct, not timed)
//   {"op":"stats"|"reset","url":S}          the server's counters (direct)
async function client() {
  const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 6 });
  const local = new PouchDB('device', { adapter: 'memory' });
  // One remote database object per URL for the life of the app, as a device app keeps
  // it: its set-up (GET /db, PUT /db when missing) happens once, on first use.
  const remotes = new Map();
  const remoteOf = (url, timeoutMs) => {
    // Keep-alive, as a browser or WebView does: node-fetch alone sends
    // `Connection: close` and would pay a TCP handshake per request.
    const fetch = (u, opts) => PouchDB.fetch(u, { ...opts, agent: keepAlive });
    if (!remotes.has(url)) remotes.set(url, new PouchDB(url, { adapter: 'http', timeout: timeoutMs || 60000, fetch }));
    return remotes.get(url);
  };
  const handlers = {
    async load(c) {
      const r = await local.bulkDocs(c.docs);
      const bad = r.filter((x) => x.error);
      if (bad.length) throw new Error(`load: ${bad.length} refused`);
      return { n: r.length };
    },
    async edit(c) {
      for (const id of c.ids) {
        const doc = await local.get(id);
        let o = doc;
        for (const k of c.path.slice(0, -1)) o = o[k];
        o[c.path[c.path.length - 1]] = c.value;
        await local.put(doc);
      }
      return { n: c.ids.length };
    },
    async push(c) { return replicate(local, remoteOf(c.url, c.timeout_ms), c.timeout_ms); },
    async pull(c) { return replicate(remoteOf(c.url, c.timeout_ms), local, c.timeout_ms); },
    async info(c) {
      const i = await remoteOf(c.url, 30000).info();
      return { doc_count: i.doc_count };
    },
    async local_info() {
      const i = await local.info();
      return { doc_count: i.doc_count };
    },
    async stats(c) { return (await fetchJson(`${c.url}/_fieldsync/stats`, 'GET')); },
    async reset(c) { return (await fetchJson(`${c.url}/_fieldsync/reset`, 'POST')); },
  };
  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    if (!line.trim()) continue;
    let out;
    try {
      const c = JSON.parse(line);
      const h = handlers[c.op];
      if (!h) throw new Error(`unknown op ${c.op}`);
      out = { ok: true, ...(await h(c)) };
    } catch (e) {
      out = { ok: false, error: String(e && (e.message || e.name || e)) };
    }
    process.stdout.write(JSON.stringify(out) + '\n');
  }
}

function replicate(source, target, timeoutMs) {
  const t0 = process.hrtime.bigint();
  return new Promise((resolve) => {
    const rep = PouchDB.replicate(source, target, { retry: false });
    const timer = setTimeout(() => rep.cancel(), timeoutMs || 120000);
    const done = (res, err) => {
      clearTimeout(timer);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      const ok = !err && res && res.ok !== false && res.status !== 'cancelled';
      resolve({
        ok,
        ms,
        docs_written: (res && res.docs_written) || 0,
        docs_read: (res && res.docs_read) || 0,
        error: err ? String(err.message || err.name || err) : (ok ? null : String((res && res.status) || 'failed')),
      });
    };
    rep.then((res) => done(res, null), (err) => done(null, err));
  });
}

function fetchJson(url, method) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => { try { resolve(JSON.parse(body)); } catch (e) { reject(e); } });
    });
    req.on('error', reject);
    req.end();
  });
}

const mode = process.argv[2];
if (mode === 'server') server();
else if (mode === 'client') client().catch((e) => { console.error(e); process.exit(1); });
else { console.error('usage: node peer.js server|client'); process.exit(2); }
