package deploy_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chatgate/chatgate/internal/freeport"
	"github.com/chatgate/chatgate/internal/testenv"
)

// TestClusterFailover is issue 4's cluster test: Postgres, a private Redis,
// three gateway processes (the built binary, the shipped Caddyfile) and the
// shipped Caddy load balancer, all on 127.0.0.1. The load generator drives
// 300 clients through the LB in rooms spread over all instances; one gateway
// is killed with SIGKILL mid-stream and another sent SIGTERM later. The
// generator's own verdict must be clean: every send acked, every delivery
// exactly once and in order per room, every client resumed, and each one
// back within 5 s.
func TestClusterFailover(t *testing.T) {
	root, tmp, bin, redisURL, web := lbCluster(t)
	gen := testenv.Build(t, "./loadtest")

	var gws []*lbGateway
	for i := 1; i <= 3; i++ {
		g := lbStartGateway(t, bin, root, tmp, fmt.Sprintf("gw%d", i), web, redisURL, "CHATGATE_SHUTDOWN_DELAY=1500ms")
		gws = append(gws, g)
	}
	for _, g := range gws {
		testenv.WaitHTTP(t, "http://"+g.addr+"/readyz", 200, 60*time.Second)
	}
	lbAddr := fmt.Sprintf("127.0.0.1:%d", freeport.Take(t))
	testenv.Start(t, tmp, "caddy-lb", []string{
		"CHATGATE_LB_ADDR=" + lbAddr,
		"CHATGATE_UPSTREAMS=" + gws[0].addr + " " + gws[1].addr + " " + gws[2].addr,
		"CHATGATE_LB_ADMIN=" + fmt.Sprintf("127.0.0.1:%d", freeport.Take(t)),
		"CHATGATE_LB_HEALTH_INTERVAL=1s",
	}, bin, "run", "--config", filepath.Join(root, "deploy/Caddyfile.lb"), "--adapter", "caddyfile")
	base := "http://" + lbAddr
	testenv.WaitHTTP(t, base+"/readyz", 200, 30*time.Second)

	out := filepath.Join(tmp, "r.json")
	kills := fmt.Sprintf("KILL:%d@6s,TERM:%d@12s", gws[0].proc.Pid(), gws[1].proc.Pid())
	cmd := exec.Command(gen, "-url", base, "-users", "300", "-rooms", "30", "-rate", "150", "-duration", "20s",
		"-ramp", "3s", "-kill", kills, "-admin", "none", "-leak-check", "off", "-json", out, "-html", filepath.Join(tmp, "r.html"), "-q")
	output, runErr := cmd.CombinedOutput()
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("no result: %v\n%s", err, output)
	}
	var r struct {
		UsersConnected int   `json:"users_connected"`
		Sent           int64 `json:"sent"`
		Acked          int64 `json:"acked"`
		Expected       int64 `json:"expected_deliveries"`
		Delivered      int64 `json:"delivered"`
		Lost           int64 `json:"lost"`
		Duplicated     int64 `json:"duplicated"`
		Reordered      int64 `json:"reordered"`
		ReconnectS     struct {
			P50, Max float64
			Count    int64
		} `json:"reconnect_s"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	t.Logf("cluster: %d users, %d sent, %d acked, %d/%d delivered, lost %d dup %d reordered %d; %d reconnects, p50 %.2fs max %.2fs",
		r.UsersConnected, r.Sent, r.Acked, r.Delivered, r.Expected, r.Lost, r.Duplicated, r.Reordered, r.ReconnectS.Count, r.ReconnectS.P50, r.ReconnectS.Max)
	if runErr != nil {
		t.Fatalf("loadtest: %v\n%s", runErr, output)
	}
	if r.Lost != 0 || r.Duplicated != 0 || r.Reordered != 0 || r.Acked != r.Sent || r.Delivered != r.Expected {
		t.Fatalf("result %s", b)
	}
	if r.ReconnectS.Count < 100 {
		t.Fatalf("only %d reconnects: the kills did not hit the clients", r.ReconnectS.Count)
	}
	if r.ReconnectS.Max > 5 {
		t.Fatalf("a client took %.2fs to come back (want ≤ 5s)", r.ReconnectS.Max)
	}
}

// lbCluster prepares what gateway processes sharing a bus need: the repo
// root, a temporary directory, the built binary, a private Redis and a web
// root.
func lbCluster(t *testing.T) (root, tmp, bin, redisURL, web string) {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	tmp = t.TempDir()
	bin = testenv.BuildGateway(t)
	lbEnsureDB(t)
	redisURL = lbStartRedis(t)
	web = filepath.Join(tmp, "web")
	testenv.WriteFile(t, web, "index.html", "<!doctype html><title>chatgate</title>")
	return root, tmp, bin, redisURL, web
}
