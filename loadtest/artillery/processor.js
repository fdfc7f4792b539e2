'use strict';
// Helpers for chat.yml (Artillery's ws engine). No packages beyond Node's.
//
// Each virtual user takes one payload row (index,token,user,room: written by
// `go run ./loadtest -payload`), opens /ws with its bearer token, subscribes
// to its room and sends on a common schedule: send k (k = 0, 1, …) is due
// at START + k/RATE and is made by user k mod USERS, as in the Go load
// generator. Every received message of the scenario yields its latency
// from the intended send time carried in its body.

const fs = require('node:fs');
const { performance } = require('node:perf_hooks');
const { isMainThread } = require('node:worker_threads');

function num(name, def) {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : def;
}

const USERS = num('ART_USERS', 1000);
const RATE = num('ART_RATE', 1000); // sends/s over all users
const RAMP_S = num('ART_RAMP', 10);
const SETTLE_S = num('ART_SETTLE', 3);
const DURATION_S = num('ART_DURATION', 30);
const DRAIN_S = num('ART_DRAIN', 5);
const SUBSCRIBE_TIMEOUT_MS = 15000;
const BODY_SIZE = 100;

// Wall-clock milliseconds with sub-millisecond precision. Every send and
// every receive of a worker happen in this thread, so they share the clock.
function now() {
  return performance.timeOrigin + performance.now();
}

// The common send window. Artillery loads this file in each worker just
// before the phases start, so "load time + ramp + settle" leaves every user
// time to arrive and subscribe (one worker on a 2-core machine; with
// several, set ART_START_MS so they agree).
const START_MS = num('ART_START_MS', 0) || Math.ceil(now() + (RAMP_S + SETTLE_S) * 1000);
const END_MS = START_MS + DURATION_S * 1000;
// scripts/bench-artillery.sh reads the server's and Artillery's CPU over
// exactly this window. Only a worker runs virtual users.
if (process.env.ART_WINDOW_FILE && !isMainThread) {
  fs.writeFileSync(process.env.ART_WINDOW_FILE, `${Math.round(START_MS)} ${Math.round(END_MS)}\n`);
}

// setTimeout may fire up to a millisecond early (it rounds): wait again
// until t has passed, so no send leaves before its intended time.
async function sleepUntil(t) {
  for (let d = t - now(); d > 0; d = t - now()) {
    await new Promise((r) => setTimeout(r, Math.max(1, Math.ceil(d))));
  }
}

function base() {
  return (process.env.TARGET || 'http://127.0.0.1:8080').replace(/\/+$/, '');
}

// connect.function of the ws engine: (wsArgs, context, done).
function connectChat(wsArgs, context, done) {
  const v = context.vars;
  if (!v.token || !v.room) return done(new Error('payload row without token or room (ART_PAYLOAD)'));
  wsArgs.target = base().replace(/^http/, 'ws') + '/ws';
  wsArgs.options = {
    ...wsArgs.options,
    headers: { ...(wsArgs.options && wsArgs.options.headers), Authorization: 'Bearer ' + v.token },
  };
  return done();
}

// One listener per connection, for the connection's life (the engine resets
// ws.onmessage on each send step; listeners added with on() stay).
function listen(context, events) {
  const v = context.vars;
  const ws = context.ws;
  const st = { lastSeq: -1, waiting: null, sentAt: new Map(), closing: false };
  v._st = st;
  const room = Number(v.room);

  function onEvent(ev) {
    switch (ev.type) {
      case 'message': {
        const t = now();
        if (ev.room !== room) return;
        if (st.lastSeq >= 0) {
          if (ev.seq > st.lastSeq + 1) events.emit('counter', 'chat.gaps', ev.seq - st.lastSeq - 1);
          else if (ev.seq <= st.lastSeq) events.emit('counter', 'chat.out_of_order', 1);
        }
        if (ev.seq > st.lastSeq) st.lastSeq = ev.seq;
        const b = ev.body;
        if (typeof b === 'string' && b.startsWith('art t=')) {
          const sent = parseFloat(b.slice(6, b.indexOf(' ', 6)));
          events.emit('counter', 'chat.delivered', 1);
          events.emit('histogram', 'chat.latency', t - sent);
        }
        return;
      }
      case 'ack': {
        const sent = st.sentAt.get(ev.cid);
        if (sent !== undefined) {
          st.sentAt.delete(ev.cid);
          events.emit('counter', 'chat.acked', 1);
          events.emit('histogram', 'chat.ack_latency', now() - sent);
        }
        return;
      }
      case 'subscribed':
        if (ev.room === room) {
          st.lastSeq = ev.last_seq;
          if (st.waiting) st.waiting();
        }
        return;
      case 'error':
        events.emit('counter', 'chat.errors.' + ev.code, 1);
        return;
      default:
    }
  }

  ws.on('message', (data) => {
    let m;
    try {
      m = JSON.parse(data);
    } catch (e) {
      events.emit('counter', 'chat.errors.bad_frame', 1);
      return;
    }
    if (Array.isArray(m)) m.forEach(onEvent);
    else onEvent(m);
  });
  ws.on('close', (code) => {
    if (!st.closing) events.emit('counter', 'chat.closed.' + code, 1);
  });
  return st;
}

async function subscribe(context, events) {
  const st = listen(context, events);
  const subscribed = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no subscribed reply')), SUBSCRIBE_TIMEOUT_MS);
    st.waiting = () => {
      clearTimeout(timer);
      st.waiting = null;
      resolve();
    };
  });
  context.ws.send(JSON.stringify({ type: 'subscribe', room: Number(context.vars.room) }));
  await subscribed;
  events.emit('counter', 'chat.subscribed', 1);
  context.vars.k = 0;
}

// This user's sends: k-th is due at START + (index + k·USERS)/RATE, while
// before the end of the window (at least one).
function dueAt(context) {
  return START_MS + ((Number(context.vars.index) + context.vars.k * USERS) / RATE) * 1000;
}

async function nextMessage(context, events) {
  const v = context.vars;
  const due = dueAt(context);
  await sleepUntil(due);
  const t = now();
  events.emit('histogram', 'chat.send_lag', t - due);
  v.k += 1;
  const head = `art t=${due.toFixed(3)} u=${v.user} n=${v.k} `;
  v.body = head.padEnd(BODY_SIZE, '.');
  v.cid = `art-${v.user}-${Math.round(START_MS)}-${v.k}`;
  v._st.sentAt.set(v.cid, due);
}

// loop.whileTrue: (context, next(bool)), asked after each iteration.
function moreToSend(context, next) {
  return next(dueAt(context) < END_MS);
}

// Stay connected until every user's last send had DRAIN seconds to arrive,
// then let the engine close the socket.
async function drain(context, events) {
  await sleepUntil(END_MS + DRAIN_S * 1000);
  const st = context.vars._st;
  st.closing = true;
  if (st.sentAt.size) events.emit('counter', 'chat.unacked', st.sentAt.size);
}

module.exports = { connectChat, subscribe, nextMessage, moreToSend, drain };
