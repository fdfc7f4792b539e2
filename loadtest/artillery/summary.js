'use strict';
// The figures of an Artillery JSON report (artillery run --output) that
// BENCHMARKS.md compares with the load generator's:
//   node summary.js report.json        (ART_USERS, ART_ROOMS: room size)

const fs = require('node:fs');

const report = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const agg = report.aggregate || {};
const c = agg.counters || {};
const s = agg.summaries || {};
const users = Number(process.env.ART_USERS || 1000);
const rooms = Number(process.env.ART_ROOMS || 100);
const n = (k) => c[k] || 0;
const ms = (v) => (v === undefined ? '-' : v < 10 ? v.toFixed(2) : v.toFixed(1));

// The aggregate's own count is wrong in Artillery 2.0.21 (half the samples
// here); the sum over the 10 s periods is right.
function count(name) {
  return (report.intermediate || []).reduce((t, p) => t + (((p.summaries || {})[name] || {}).count || 0), 0);
}

function hist(name, label) {
  const h = s[name];
  if (!h) return `${label}: none recorded`;
  return `${label}: p50 ${ms(h.median ?? h.p50)} p95 ${ms(h.p95)} p99 ${ms(h.p99)} p99.9 ${ms(h.p999)} max ${ms(h.max)} ms (n=${count(name)})`;
}

const lines = [];
lines.push(
  `vusers: created ${n('vusers.created')}, completed ${n('vusers.completed')}, failed ${n('vusers.failed')}; subscribed ${n('chat.subscribed')}`,
);
const sent = n('websocket.messages_sent'); // the engine's send steps: messages only (subscribe is sent by processor.js)
const acked = n('chat.acked');
const expected = acked * (users / rooms);
lines.push(
  `sends ${sent}, acked ${acked}, unacked at the end ${n('chat.unacked')}; delivered ${n('chat.delivered')} of ~${expected} owed (acked × ${users / rooms} members)`,
);
lines.push(hist('chat.latency', 'latency, intended send → delivery'));
lines.push(hist('chat.ack_latency', 'ack, intended send → ack'));
lines.push(hist('chat.send_lag', "send lag, intended → written (Artillery's own delay)"));
const other = Object.keys(c)
  .filter((k) => /^chat\.(gaps|out_of_order|errors\.|closed\.)/.test(k) || k.startsWith('errors.'))
  .map((k) => `${k} ${c[k]}`);
lines.push(`gaps, disorder, errors, closes: ${other.length ? other.join(', ') : 'none'}`);
console.log(lines.join('\n'));
