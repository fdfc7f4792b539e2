package cachemw

import (
	"bytes"
	"net/http"
	"sync"
)

// recorder buffers a response so it can be stored and shared with coalesced
// requests before anything reaches the client. Past max bytes, or when the
// handler flushes (streaming), it gives up: it writes what it holds through
// to w and passes the rest straight on, and the response is not stored.
type recorder struct {
	w         http.ResponseWriter
	header    http.Header
	status    int
	buf       *bytes.Buffer
	max       int
	streaming bool
	// noStream keeps everything buffered, flushes included (a composed
	// route's stored part must not reach the client as it is).
	noStream bool
	// beforeStream decorates the real header before it is first written
	// (X-Cache: MISS and friends).
	beforeStream func(h http.Header)
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func newRecorder(w http.ResponseWriter, max int, beforeStream func(http.Header)) *recorder {
	b := bufPool.Get().(*bytes.Buffer)
	b.Reset()
	return &recorder{w: w, header: make(http.Header), buf: b, max: max, beforeStream: beforeStream}
}

// release returns the buffer to the pool; the recorder is dead afterwards.
// Large buffers are dropped rather than pooled so one big response does not
// pin memory forever (cache-handler #118).
func (r *recorder) release() {
	if r.buf != nil && r.buf.Cap() <= 1<<20 {
		bufPool.Put(r.buf)
	}
	r.buf = nil
}

func (r *recorder) Header() http.Header {
	if r.streaming {
		return r.w.Header()
	}
	return r.header
}

func (r *recorder) WriteHeader(code int) {
	if r.streaming {
		r.w.WriteHeader(code)
		return
	}
	if r.status != 0 {
		return
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		// Informational (103 Early Hints): forward now, keep recording.
		copyHeader(r.w.Header(), r.header)
		r.w.WriteHeader(code)
		return
	}
	r.status = code
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.streaming {
		return r.w.Write(p)
	}
	if r.status == 0 {
		r.WriteHeader(http.StatusOK)
	}
	if r.buf.Len()+len(p) > r.max {
		if err := r.stream(); err != nil {
			return 0, err
		}
		return r.w.Write(p)
	}
	return r.buf.Write(p)
}

// Flush means the handler streams: stop buffering.
func (r *recorder) Flush() {
	if r.noStream {
		return
	}
	if !r.streaming {
		if r.status == 0 {
			r.status = http.StatusOK
		}
		_ = r.stream()
	}
	_ = http.NewResponseController(r.w).Flush()
}

// Unwrap lets http.ResponseController reach the real writer (deadlines).
func (r *recorder) Unwrap() http.ResponseWriter { return r.w }

// stream switches to pass-through, writing the header and buffered body.
func (r *recorder) stream() error {
	r.streaming = true
	h := r.w.Header()
	copyHeader(h, r.header)
	if r.beforeStream != nil {
		r.beforeStream(h)
	}
	status := r.status
	if status == 0 {
		status = http.StatusOK
	}
	r.w.WriteHeader(status)
	if r.buf.Len() > 0 {
		_, err := r.w.Write(r.buf.Bytes())
		r.buf.Reset()
		return err
	}
	return nil
}

// copyHeader sets every field of src on dst, replacing dst's values.
func copyHeader(dst, src http.Header) {
	for k, vs := range src {
		dst[k] = vs
	}
}
