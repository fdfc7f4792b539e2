// Package chatclient speaks Chatgate's protocol (REST + one WebSocket, see
// PROTOCOL.md and the README's protocol notes): it is the way to write a bot
// against a Chatgate server, and what the load generator and the
// repository's tests use. It needs nothing of the server's packages.
//
// A Client is one user over REST: Register or Login (the token is kept),
// rooms, members, history pages (MessagesBefore, MessagesAfter), Post with a
// cid, MarkRead, Presence; Do for anything else. A refusal is an *Error
// with the HTTP status, the protocol's code, its message and Retry-After.
//
// Dial opens the WebSocket. Subscribe (with Since for a replay), Send (waits
// for the ack; the same cid is stored once, a resend is acked with
// Duplicate), Ping and Unsubscribe wait for their answers; every event also
// goes to DialOptions.OnEvent, to a Log, or to the queue Next reads. A
// connection that the server closed ends with a *CloseError (CloseCode:
// 1001 draining, 4401 bad token, 4408 too slow, 4429 rate limited).
//
// A Session keeps a bot connected: it reconnects with jittered backoff,
// resubscribes every room with since = the last contiguous seq it has
// (Tracker), resends unacked sends with their cid (Outbox), and hands each
// message to OnEvent exactly once, in order.
//
// A bot that answers "ping" in a room:
//
//	c := chatclient.New("https://chat.example.com")
//	if _, err := c.Login(ctx, "bot@example.com", password); err != nil {
//		return err
//	}
//	var s *chatclient.Session
//	s = c.NewSession(chatclient.SessionOptions{
//		Rooms: []int64{room},
//		OnEvent: func(e *chatclient.Event) {
//			if e.Type == chatclient.TypeMessage && e.Body == "ping" {
//				// Not on the read goroutine: Send waits for the ack.
//				go s.Send(ctx, e.Room, "pong")
//			}
//		},
//	})
//	return s.Run(ctx) // until ctx ends or the token is refused
//
// Options for tests and load: WithHTTPClient and WithDialer (to bind a
// local address, size buffers), WithCompression, WithHeader (Origin).
// The load generator uses the low-level hooks: OnEvent with Event.At (one
// timestamp per frame), SendAsync and WriteFrame (pre-encoded frames),
// KeepAlive and ReadTimeout, CloseWith.
package chatclient
