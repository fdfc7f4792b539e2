'use strict';
// Helpers for chat.yml. Node 20 has fetch built in, so no extra packages.

const crypto = require('node:crypto');

function base(context) {
  return (context.vars.target || process.env.TARGET || 'http://127.0.0.1:8080').replace(/\/+$/, '');
}

async function api(context, method, path, body, token) {
  const headers = { 'Content-Type': 'application/json' };
  if (token) headers.Authorization = 'Bearer ' + token;
  const res = await fetch(base(context) + path, {
    method,
    headers,
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${text}`);
  return text ? JSON.parse(text) : {};
}

// connect.function hook of the ws engine: (wsArgs, context, done).
function connectChat(wsArgs, context, done) {
  const id = crypto.randomBytes(6).toString('hex');
  const roomCount = Number(context.vars.rooms || 20);
  (async () => {
    const auth = await api(context, 'POST', '/api/auth/register', {
      name: 'art-' + id,
      email: `art-${id}@loadtest.invalid`,
      password: crypto.randomBytes(12).toString('hex'),
    });
    const token = auth.token;
    // Use the load-test rooms named art-room-N, creating them on first use.
    const list = await api(context, 'GET', '/api/rooms', null, token);
    const n = crypto.randomInt(roomCount);
    const name = 'art-room-' + n;
    let room = (list.rooms || []).find((r) => r.name === name);
    if (!room) room = await api(context, 'POST', '/api/rooms', { name, is_private: false }, token);
    else await api(context, 'POST', `/api/rooms/${room.id}/join`, null, token);
    context.vars.room = room.id;
    context.vars.userId = auth.user.id;
    wsArgs.target = base(context).replace(/^http/, 'ws') + '/ws?token=' + encodeURIComponent(token);
  })().then(() => done(), done);
}

// A ~100-byte body carrying the send time, and a cid unique per user.
function makeMessage(context, events, done) {
  context.vars.seq = (context.vars.seq || 0) + 1;
  const head = `art t=${Date.now()} u=${context.vars.userId} n=${context.vars.seq} `;
  context.vars.body = head.padEnd(100, '.');
  context.vars.cid = `art-${context.vars.userId}-${context.vars.seq}`;
  return done();
}

module.exports = { connectChat, makeMessage };
