package reports

import (
	"errors"
	"fmt"
	"io"

	"imsconform/harness/trace/pcap"
)

// WritePcap writes r's captured messages, in r.Trace order, as a pcap file
// (Ethernet, nanosecond timestamps, real IP and UDP/TCP headers; see
// harness/trace/pcap), and the ESP packets of an IPsec run as on the wire.
func WritePcap(w io.Writer, r *Run) error {
	if r == nil {
		return errNilRun
	}
	if w == nil {
		return errors.New("reports: WritePcap: expected an io.Writer, got nil")
	}
	if err := pcap.WriteAll(w, r.Trace, r.ESP); err != nil {
		return fmt.Errorf("reports: writing pcap: %w", err)
	}
	return nil
}
