package refcore

import (
	"sort"
	"time"

	"imsconform/harness/transport"
)

// Limits bound what the reference core holds for whoever talks to it, so
// that a flood, a scan, a slow or an idle peer costs bounded memory and
// goroutines, for a bounded time. Zero fields mean the defaults below.
type Limits struct {
	// IdleTimeout closes a TCP connection that carried nothing for so long:
	// DefaultIdleTimeout.
	IdleTimeout time.Duration
	// HeaderTimeout bounds, over TCP, the time from a message's first byte
	// to its last: 64·T1 (Timer F, 32 s: by then its sender's transaction
	// has given up).
	HeaderTimeout time.Duration
	// MaxMessage is the largest SIP message a hop reads (a datagram, or a
	// framed TCP message): transport.DefaultMaxMessage.
	MaxMessage int
	// MaxConnections bounds the TCP connections each hop keeps accepted:
	// DefaultMaxConnections.
	MaxConnections int
	// MaxTransactions bounds the server transactions of each hop (they end
	// by Timer J, or 64·T1 when never answered); a request beyond it is
	// answered 503 with Retry-After: DefaultMaxTransactions.
	MaxTransactions int
	// MaxChallenges bounds the S-CSCF's outstanding challenges (each also
	// ends after reg-await-auth, TS 24.229 table 7.8.1): DefaultMaxChallenges.
	MaxChallenges int
	// MaxRegistrations bounds the registrations the core keeps (the
	// P-CSCF's Service-Routes, the S-CSCF's bindings and user profiles; each
	// also ends with its registration's expiry): DefaultMaxRegistrations,
	// or, when the HSS serves a population (Config.Population, the lab's
	// subscribers), one per subscriber.
	MaxRegistrations int
}

// Defaults of Limits.
const (
	// DefaultIdleTimeout is 2 minutes, the tcp_connection_lifetime default
	// of Kamailio and OpenSIPS.
	DefaultIdleTimeout      = 2 * time.Minute
	DefaultMaxConnections   = 1024
	DefaultMaxTransactions  = 4096
	DefaultMaxChallenges    = 4096
	DefaultMaxRegistrations = 4096
)

// RegAwaitAuth is the S-CSCF's reg-await-auth timer (TS 24.229 table
// 7.8.1): how long a challenge waits for the UE's answer.
const RegAwaitAuth = 4 * time.Minute

func (l Limits) withDefaults() Limits {
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = DefaultIdleTimeout
	}
	if l.MaxMessage <= 0 {
		l.MaxMessage = transport.DefaultMaxMessage
	}
	if l.MaxConnections <= 0 {
		l.MaxConnections = DefaultMaxConnections
	}
	if l.MaxTransactions <= 0 {
		l.MaxTransactions = DefaultMaxTransactions
	}
	if l.MaxChallenges <= 0 {
		l.MaxChallenges = DefaultMaxChallenges
	}
	if l.MaxRegistrations <= 0 {
		l.MaxRegistrations = DefaultMaxRegistrations
	}
	return l
}

// table is a map whose entries expire and whose size is bounded: a put that
// finds it full first drops the expired entries, then the eighth that would
// expire soonest. It is not safe for concurrent use (the core's mutex
// guards it).
type table[V any] struct {
	max int
	m   map[string]entry[V]
}

type entry[V any] struct {
	v     V
	until time.Time
}

func newTable[V any](max int) *table[V] {
	return &table[V]{max: max, m: map[string]entry[V]{}}
}

// get returns the live entry of k.
func (t *table[V]) get(k string, now time.Time) (V, bool) {
	e, ok := t.m[k]
	if ok && !now.Before(e.until) {
		delete(t.m, k)
		ok = false
	}
	return e.v, ok
}

// put sets k to v until until.
func (t *table[V]) put(k string, v V, until, now time.Time) {
	if _, ok := t.m[k]; !ok && len(t.m) >= t.max {
		t.evict(now)
	}
	t.m[k] = entry[V]{v: v, until: until}
}

func (t *table[V]) del(k string) { delete(t.m, k) }

func (t *table[V]) len() int { return len(t.m) }

func (t *table[V]) evict(now time.Time) {
	for k, e := range t.m {
		if !now.Before(e.until) {
			delete(t.m, k)
		}
	}
	if len(t.m) < t.max {
		return
	}
	keys := make([]string, 0, len(t.m))
	for k := range t.m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return t.m[keys[i]].until.Before(t.m[keys[j]].until) })
	for _, k := range keys[:max(1, len(keys)/8)] {
		delete(t.m, k)
	}
}
