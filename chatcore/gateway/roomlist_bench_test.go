package gateway

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/chatgate/chatgate/internal/testenv"
)

// BenchmarkComposeRoomList: one composed room list answer (a HIT's work
// in the API) over the public rooms of the test database (at least 196,
// more from earlier tests: reported as rooms) and a few private ones of
// the user, the stored part already decoded: the counters, the user's
// part, the appends and the ETag.
func BenchmarkComposeRoomList(b *testing.B) {
	rs := testenv.StartRedis(b)
	a := startCachedInstance(b, "bench", rs.Addr())
	tok, _ := a.register(b, "Bench")
	for i := 0; i < 200; i++ {
		a.do(b, "POST", "/api/rooms", tok, map[string]any{"name": fmt.Sprint("bench ", i), "is_private": i%50 == 0})
	}
	req := httptest.NewRequest("GET", "/api/rooms", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	rec := httptest.NewRecorder()
	a.api.ServeHTTP(rec, req.WithContext(WithStoredPart(req.Context())))
	stored := rec.Body.Bytes()
	user := mustID(b, a, tok)
	ctx := context.Background()
	if _, _, err := a.core.ComposeRoomList(ctx, user, stored, `"e"`); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := a.core.ComposeRoomList(ctx, user, stored, `"e"`); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	shared, _ := a.core.caches().roomList.get(stored, `"e"`)
	b.ReportMetric(float64(len(shared.ids)), "rooms")
}
