'use strict';
// The peer of `make bench-peers` (issue 14): a plain Socket.IO 4.8 chat
// server, WebSocket transport only, no persistence, no auth. Benchmarks only;
// it is not part of Chatgate.
//
//   PORT=18090 node server.js      (HOST defaults to 127.0.0.1)
//
// Protocol (what loadtest -protocol socketio speaks):
//   connect with auth {user, name}        (Socket.IO CONNECT payload)
//   emit "join" (room)          ack {room, last_seq}   the room's seq now
//   emit "send" {room, body, cid}   ack {room, seq, cid}
//   the room gets "message" {room, seq, user: {id, name}, body, cid, ts}
// Seqs are kept per room in memory; Node runs one thread, so a join and the
// seq it reports are ordered with every send: a member is owed exactly the
// messages after last_seq, as with Chatgate's subscribe.
const http = require('node:http');
const { Server } = require('socket.io');

const port = Number(process.env.PORT || 18090);
const host = process.env.HOST || '127.0.0.1';

const httpServer = http.createServer((req, res) => {
  res.writeHead(404);
  res.end();
});
const io = new Server(httpServer, {
  transports: ['websocket'], // no long-polling, no upgrade dance
  serveClient: false,
  perMessageDeflate: false, // Chatgate compresses only when offered; the generator does not offer
  httpCompression: false,
  maxHttpBufferSize: 1 << 20,
});

const seqs = new Map(); // room name -> last seq

io.on('connection', (socket) => {
  const auth = socket.handshake.auth || {};
  const user = { id: Number(auth.user) || 0, name: String(auth.name || '') };

  socket.on('join', (room, ack) => {
    const name = String(room);
    socket.join(name);
    if (typeof ack === 'function') ack({ room, last_seq: seqs.get(name) || 0 });
  });

  socket.on('send', (m, ack) => {
    const reply = typeof ack === 'function' ? ack : () => {};
    if (!m || typeof m.body !== 'string') {
      reply({ error: 'bad_request', cid: m && m.cid });
      return;
    }
    const name = String(m.room);
    if (!socket.rooms.has(name)) {
      reply({ error: 'forbidden', room: m.room, cid: m.cid });
      return;
    }
    const seq = (seqs.get(name) || 0) + 1;
    seqs.set(name, seq);
    reply({ room: m.room, seq, cid: m.cid });
    io.to(name).emit('message', {
      room: m.room, seq, user, body: m.body, cid: m.cid, ts: new Date().toISOString(),
    });
  });
});

let version = '?';
try {
  version = require('socket.io/package.json').version;
} catch {
  // an exports map may hide package.json
}
httpServer.listen(port, host, () => {
  console.log(JSON.stringify({ socketio: version, pid: process.pid, listen: `${host}:${port}` }));
});

const stop = () => {
  io.close();
  httpServer.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
