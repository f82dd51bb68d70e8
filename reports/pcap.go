package reports

import (
	"errors"
	"fmt"
	"io"

	"imsconform/harness/trace"
)

// WritePcap writes r's captured messages as a pcap file through
// (*trace.Trace).WritePcap (Ethernet, nanosecond timestamps, real IP and
// UDP/TCP headers; see harness/trace). The messages are copied into a fresh
// trace.Trace in r.Trace order; a message with a zero Time gets the time of
// the copy, as trace.Trace.Add does.
func WritePcap(w io.Writer, r *Run) error {
	if r == nil {
		return errNilRun
	}
	if w == nil {
		return errors.New("reports: WritePcap: expected an io.Writer, got nil")
	}
	t := trace.New()
	for _, m := range r.Trace {
		t.Add(m)
	}
	if err := t.WritePcap(w); err != nil {
		return fmt.Errorf("reports: writing pcap: %w", err)
	}
	return nil
}
