package reports

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func TestWritePcap(t *testing.T) {
	r := sampleRun()
	var buf bytes.Buffer
	if err := WritePcap(&buf, r); err != nil {
		t.Fatalf("WritePcap: %v", err)
	}
	b := buf.Bytes()
	if len(b) < 24 {
		t.Fatalf("WritePcap: expected at least a 24-byte pcap header, got %d bytes", len(b))
	}
	// Nanosecond pcap, either byte order.
	if m := binary.LittleEndian.Uint32(b); m != 0xa1b23c4d && m != 0x4d3cb2a1 {
		t.Errorf("WritePcap: expected the nanosecond pcap magic a1b23c4d, got %08x", m)
	}
	// Every message's bytes are in the file.
	for _, m := range r.Trace {
		if !bytes.Contains(b, m.Raw) {
			t.Errorf("WritePcap: expected message %d's bytes in the pcap, not found", m.Seq)
		}
	}
	buf.Reset()
	if err := WritePcap(&buf, &Run{}); err != nil || buf.Len() != 24 {
		t.Errorf("WritePcap(empty run): expected a bare 24-byte header and no error, got %d bytes, %v", buf.Len(), err)
	}
}
