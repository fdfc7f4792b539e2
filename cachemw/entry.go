package cachemw

import (
	"encoding/binary"
	"errors"
	"net/http"
	"time"
)

// entry is one stored response. It is encoded by hand (varints and raw
// bytes): it is decoded on every hit, and gob or JSON would cost more than
// the Redis round trip saves.
type entry struct {
	stored   time.Time
	expires  time.Time
	status   int
	tags     []string // names, in lookup order
	versions []string // the tag versions read before the handler ran
	header   http.Header
	body     []byte // aliases the encoded buffer when decoded
}

const entryMagic = 0xC1

var errBadEntry = errors.New("cachemw: malformed entry")

func (e *entry) encode() []byte {
	n := 32 + len(e.body)
	for i := range e.tags {
		n += len(e.tags[i]) + len(e.versions[i]) + 4
	}
	for k, vs := range e.header {
		n += len(k) + 4
		for _, v := range vs {
			n += len(v) + 2
		}
	}
	b := make([]byte, 0, n)
	b = append(b, entryMagic)
	b = binary.AppendVarint(b, e.stored.UnixNano())
	b = binary.AppendVarint(b, e.expires.UnixNano())
	b = binary.AppendUvarint(b, uint64(e.status))
	b = binary.AppendUvarint(b, uint64(len(e.tags)))
	for i := range e.tags {
		b = appendString(b, e.tags[i])
		b = appendString(b, e.versions[i])
	}
	b = binary.AppendUvarint(b, uint64(len(e.header)))
	for k, vs := range e.header {
		b = appendString(b, k)
		b = binary.AppendUvarint(b, uint64(len(vs)))
		for _, v := range vs {
			b = appendString(b, v)
		}
	}
	return append(b, e.body...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decodeEntry parses an encoded entry; the body aliases b.
func decodeEntry(b []byte) (*entry, error) {
	d := decoder{b: b}
	if len(b) == 0 || b[0] != entryMagic {
		return nil, errBadEntry
	}
	d.b = d.b[1:]
	e := &entry{}
	e.stored = time.Unix(0, d.varint())
	e.expires = time.Unix(0, d.varint())
	e.status = int(d.uvarint())
	nt := d.count()
	e.tags, e.versions = make([]string, nt), make([]string, nt)
	for i := 0; i < nt; i++ {
		e.tags[i], e.versions[i] = d.str(), d.str()
	}
	nh := d.count()
	e.header = make(http.Header, nh)
	for i := 0; i < nh; i++ {
		k := d.str()
		nv := d.count()
		vs := make([]string, nv)
		for j := range vs {
			vs[j] = d.str()
		}
		e.header[k] = vs
	}
	if d.err {
		return nil, errBadEntry
	}
	e.body = d.b
	return e, nil
}

type decoder struct {
	b   []byte
	err bool
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err, d.b = true, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err, d.b = true, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a length that must fit what is left, so a corrupt entry can
// not make us allocate gigabytes.
func (d *decoder) count() int {
	v := d.uvarint()
	if v > uint64(len(d.b)) {
		d.err, d.b = true, nil
		return 0
	}
	return int(v)
}

func (d *decoder) str() string {
	n := d.count()
	if d.err {
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}
