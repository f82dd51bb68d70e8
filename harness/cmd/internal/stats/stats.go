// Package stats is the debug endpoint of the standalone commands (refcore,
// hss): with -debug host:port on loopback they serve Go's expvar at
// /debug/vars (memstats, and "goroutines", the live goroutine count) and
// net/http/pprof at /debug/pprof/, so that an operator — or the commands'
// flood, slow-connection and churn tests — can see what a server holds. Read
// turns a process's endpoint and /proc entry into one Sample.
//
// It is not monitoring: no metrics of the protocols, no authentication (it
// binds loopback only for that reason).
package stats

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"expvar"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

func init() {
	expvar.Publish("goroutines", expvar.Func(func() any { return runtime.NumGoroutine() }))
}

// Serve listens on addr (host:port, a loopback IP literal; port 0 for any)
// and serves the endpoint until ctx ends. It returns the bound address.
func Serve(ctx context.Context, addr string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().Unmap().IsLoopback() {
		return netip.AddrPort{}, fmt.Errorf("-debug: expected a loopback host:port such as 127.0.0.1:6060, got %q", addr)
	}
	l, err := net.Listen("tcp", ap.String())
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("-debug: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/debug/vars", expvar.Handler())
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 30 * time.Second}
	go func() { _ = srv.Serve(l) }()
	context.AfterFunc(ctx, func() { _ = srv.Close() })
	return netip.MustParseAddrPort(l.Addr().String()), nil
}

// Client is the HTTP client Read uses.
var Client = http.DefaultClient

// Sample is what a server process holds at one moment.
type Sample struct {
	RSS        int64 // resident set size, bytes (/proc/<pid>/status VmRSS)
	Goroutines int
	HeapInuse  uint64 // bytes (runtime.MemStats.HeapInuse)
}

func (s Sample) String() string {
	return fmt.Sprintf("RSS %.1f MB, %d goroutines, heap in use %.1f MB", float64(s.RSS)/1e6, s.Goroutines, float64(s.HeapInuse)/1e6)
}

// Read samples the process pid whose endpoint is at addr; with gc it first
// has the process collect garbage (through /debug/pprof/heap?gc=1), so
// that HeapInuse counts live memory only.
func Read(ctx context.Context, pid int, addr netip.AddrPort, gc bool) (Sample, error) {
	var s Sample
	if gc {
		if err := get(ctx, addr, "/debug/pprof/heap?gc=1", nil); err != nil {
			return s, err
		}
	}
	rss, err := RSS(pid)
	if err != nil {
		return s, err
	}
	s.RSS = rss
	var v struct {
		Goroutines int `json:"goroutines"`
		Memstats   struct {
			HeapInuse uint64 `json:"HeapInuse"`
		} `json:"memstats"`
	}
	if err := get(ctx, addr, "/debug/vars", &v); err != nil {
		return s, err
	}
	s.Goroutines, s.HeapInuse = v.Goroutines, v.Memstats.HeapInuse
	return s, nil
}

// get fetches path from the endpoint and decodes its JSON into v (nil:
// the body is read and dropped).
func get(ctx context.Context, addr netip.AddrPort, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr.String()+path, nil)
	if err != nil {
		return err
	}
	res, err := Client.Do(req)
	if err != nil {
		return fmt.Errorf("stats: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("stats: %s: expected 200 OK, got %s", path, res.Status)
	}
	if v == nil {
		_, err = io.Copy(io.Discard, res.Body)
		return err
	}
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		return fmt.Errorf("stats: %s: %w", path, err)
	}
	return nil
}

// RSS reads the resident set size of process pid (Linux /proc).
func RSS(pid int) (int64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("stats: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("stats: VmRSS: expected a number of kB, got %q", v)
			}
			return kb * 1024, nil
		}
	}
	return 0, errors.New("stats: expected a VmRSS line in /proc/" + strconv.Itoa(pid) + "/status, got none")
}
