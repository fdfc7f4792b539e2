package chatclient_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/chatgate/chatgate/chatclient"
)

// A bot that answers "ping" with "pong" in one room, reconnecting and
// resuming by itself. It needs a running server (make run), so it has no
// Output and only compiles under go test.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := chatclient.New("http://127.0.0.1:8080")
	if _, err := c.Login(ctx, "bot@example.com", os.Getenv("BOT_PASSWORD")); err != nil {
		log.Fatal(err)
	}
	room, err := c.CreateRoom(ctx, "bots", false)
	if err != nil {
		log.Fatal(err)
	}
	var s *chatclient.Session
	s = c.NewSession(chatclient.SessionOptions{
		Rooms: []int64{room.ID},
		OnEvent: func(e *chatclient.Event) {
			if e.Type == chatclient.TypeMessage && e.Body == "ping" {
				go func() {
					if _, err := s.Send(ctx, e.Room, "pong"); err != nil {
						log.Print(err)
					}
				}()
			}
		},
	})
	if err := s.Run(ctx); err != nil {
		log.Fatal(err)
	}
}

// One connection without a session: subscribe with a replay, send, read.
func ExampleConn() {
	ctx := context.Background()
	c := chatclient.New("http://127.0.0.1:8080", chatclient.WithToken(os.Getenv("CHATGATE_TOKEN")))
	conn, err := c.Dial(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Subscribe(ctx, 1, chatclient.Since(0)); err != nil {
		log.Fatal(err)
	}
	ack, err := conn.Send(ctx, 1, "hello", "")
	if err != nil {
		log.Fatal(err)
	}
	for {
		e, err := conn.Next(ctx)
		if err != nil {
			log.Fatal(err)
		}
		if e.Type == chatclient.TypeMessage {
			fmt.Println(e.Seq, e.User.Name, e.Body)
		}
		if e.Seq == ack.Seq {
			return
		}
	}
}
