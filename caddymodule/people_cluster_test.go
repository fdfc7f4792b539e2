package caddymodule_test

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/chatgate/chatgate/internal/testenv"
)

// The tests of issue 15 (member directory, direct messages, room
// administration, the OpenAPI description) run the real binary with the
// shipped Caddyfile: two instances on one Postgres database and one Redis
// of their own, as deployed, so every answer went through the shipped
// chat_cache blocks and every cross-instance claim is tested across two
// processes.

// peoplePorts hands out this work's ports (18700-18799), each once per
// process, skipping ports something else holds.
var peoplePorts struct {
	sync.Mutex
	next int
}

func peoplePort(t testing.TB) int {
	t.Helper()
	peoplePorts.Lock()
	defer peoplePorts.Unlock()
	if peoplePorts.next == 0 {
		peoplePorts.next = 18700
	}
	for ; peoplePorts.next < 18800; peoplePorts.next++ {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(peoplePorts.next))
		if err != nil {
			continue
		}
		l.Close()
		peoplePorts.next++
		return peoplePorts.next - 1
	}
	t.Fatal("no free port left in 18700-18799")
	return 0
}

// startPeopleCluster runs n instances of the binary on the shipped
// Caddyfile, a fresh database named db and a private Redis; env is added
// to every instance's environment. It returns them ready.
func startPeopleCluster(t *testing.T, db string, n int, env ...string) []*server {
	t.Helper()
	bin := testenv.BuildGateway(t)
	root := testenv.ModuleRoot(t)
	dsn := testenv.FreshDB(t, db)
	rs := testenv.StartRedis(t)
	tmp := t.TempDir()
	web := filepath.Join(tmp, "web")
	testenv.WriteFile(t, web, "index.html", "<!doctype html><title>chatgate</title>")
	var out []*server
	for i := 0; i < n; i++ {
		s := &server{port: peoplePort(t), admin: peoplePort(t)}
		s.base = fmt.Sprintf("http://127.0.0.1:%d", s.port)
		s.ws = fmt.Sprintf("ws://127.0.0.1:%d/ws", s.port)
		name := fmt.Sprintf("gw%d", i+1)
		dir := filepath.Join(tmp, name)
		testenv.Start(t, dir, name, append([]string{
			fmt.Sprintf("CHATGATE_ADDR=127.0.0.1:%d", s.port),
			fmt.Sprintf("CHATGATE_ADMIN=127.0.0.1:%d", s.admin),
			fmt.Sprintf("CHATGATE_OPS_ADDR=127.0.0.1:%d", peoplePort(t)),
			"CHATGATE_INSTANCE=" + name,
			"CHATGATE_POSTGRES=" + dsn,
			"CHATGATE_REDIS=" + rs.URL(),
			"CHATGATE_SECRET=" + testSecret,
			"CHATGATE_WEB_ROOT=" + web,
			"CHATGATE_LIVE_ROOT=" + filepath.Join(root, "deploy/live"),
			"CHATGATE_DATA_DIR=" + filepath.Join(dir, ".data"),
			"CHATGATE_AUTH_IP_RATE=off",
		}, env...), bin, "run", "--config", filepath.Join(root, "Caddyfile"), "--adapter", "caddyfile")
		out = append(out, s)
	}
	for _, s := range out {
		testenv.WaitHTTP(t, s.base+"/readyz", 200, 60*time.Second)
	}
	return out
}
