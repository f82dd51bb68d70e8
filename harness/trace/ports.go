package trace

import (
	"sort"
)

// portRange is an inclusive range of ports.
type portRange struct{ lo, hi uint16 }

// WiresharkOther reports whether Wireshark dissects UDP or TCP port p, from
// 1024 up, as a protocol of its own by port number (not SIP): a SIP message
// on it would show as that protocol, since Wireshark tries the dissector of
// a port before its heuristics. The user-space ESP's pool of protected ports
// skips these ports, and the pcap writer writes a clear SIP message's port
// that is one of them as another (trace/pcap), so that every capture of a
// run shows its SIP as SIP with no setting. The list is Wireshark's own
// (wireshark_ports.go, generated from tshark -G decodes).
func WiresharkOther(p uint16) bool {
	i := sort.Search(len(wiresharkPorts), func(i int) bool { return wiresharkPorts[i].hi >= p })
	return i < len(wiresharkPorts) && wiresharkPorts[i].lo <= p
}
