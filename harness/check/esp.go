package check

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"imsconform/harness/scenario"
	"imsconform/harness/trace"
)

// esp judges a rule of kind esp (scenario.ESPParts): on the ESP the
// message travelled in (trace.Message.ESP), or on the ESP packets the
// message's receiver got from its sender during the run (Input.Packets of
// the message's role, received, from the message's source address).
func (e *evaluator) esp(c *crule, b *bound, tm *trace.Message) outcome {
	o := e.espJudge(c.r, b, *tm)
	return outcome{v: o.v, expected: str(o.expected), observed: str(o.observed), reason: str(o.reason)}
}

// espOutcome is an esp rule's verdict and texts, made as strings: esp rules
// are few and judged only under IPsec.
type espOutcome struct {
	v                          Verdict
	expected, observed, reason string
}

func (e *evaluator) espJudge(r *scenario.Rule, b *bound, m trace.Message) espOutcome {
	switch r.Part {
	case "protected":
		if m.ESP == nil {
			return espOutcome{Fail, "inside ESP (RFC 4303, TS 33.203 7.1)", "in clear", "the message did not travel over the security associations"}
		}
		return espOutcome{Pass, "inside ESP (RFC 4303, TS 33.203 7.1)", espSeen(m.ESP), ""}
	case "spi":
		if b.value.err != nil {
			return espOutcome{v: Error, expected: r.Value, reason: b.value.err.Error()}
		}
		want := b.value.s
		exp := "ESP with SPI " + want
		if m.ESP == nil {
			return espOutcome{Fail, exp, "in clear", "the message did not travel inside ESP"}
		}
		if !spiIs(m.ESP.SPI, want) {
			return espOutcome{Fail, exp, espSeen(m.ESP), "the message travelled over another SA"}
		}
		return espOutcome{v: Pass, expected: exp, observed: espSeen(m.ESP)}
	}
	pkts := e.fromPeer(m)
	if len(pkts) == 0 {
		from := m.Src.Addr().String()
		return espOutcome{Inconc, "the ESP packets " + from + " sent to " + m.Role, "none", "no ESP packet came from " + from + " to the " + m.Role + " during the run"}
	}
	switch r.Part {
	case "packets.icv":
		exp := "each verifies: ICV right, trailer well formed (RFC 4303 3.4.4)"
		for _, p := range pkts {
			switch p.Refusal {
			case "icv", "padding", "malformed":
				return espOutcome{Fail, exp, packetSeen(p), fmt.Sprintf("%d of %d packets; the first refused: %s", count(pkts, p.Refusal), len(pkts), p.Err)}
			}
		}
		return espOutcome{Pass, exp, fmt.Sprintf("%d packets, every one verified", len(pkts)), ""}
	case "packets.spi":
		var eb strings.Builder
		eb.Grow(64 + 14*len(b.values))
		eb.WriteString("each carries the SPI announced for the SA of its ports: ")
		for i, v := range b.values {
			if v.err != nil {
				return espOutcome{v: Error, expected: r.Values[min(i, len(r.Values)-1)], reason: v.err.Error()}
			}
			if i > 0 {
				eb.WriteString(" or ")
			}
			eb.WriteString(v.s)
		}
		exp := eb.String()
		for _, p := range pkts {
			known := false
			for i := range b.values {
				known = known || spiIs(p.SPI, b.values[i].s)
			}
			switch {
			case !known:
				return espOutcome{Fail, exp, packetSeen(p), "an SPI the receiver did not announce: the packet is discarded (RFC 4303 3.4.2)"}
			case p.Refusal == "selector":
				return espOutcome{Fail, exp, packetSeen(p), "an SPI of another SA than its ports': " + p.Err}
			}
		}
		var ob strings.Builder
		ob.Grow(24 + 12*len(pkts))
		var d [20]byte
		ob.Write(strconv.AppendInt(d[:0], int64(len(pkts)), 10))
		ob.Write(appendSPIList(d[:0], pkts))
		return espOutcome{Pass, exp, ob.String(), ""}
	case "packets.sequence":
		exp := "per SA: the first sequence number 1, each one higher than the one before (RFC 4303 3.3.3)"
		var lastArr [4]spiSeq
		last := lastArr[:0] // per SA, the last sequence number: a few SAs, looked up in turn
		for _, p := range pkts {
			if p.Refusal == "no-sa" {
				continue // another SA's, or none: packets.spi judges it
			}
			k := slices.IndexFunc(last, func(x spiSeq) bool { return x.spi == p.SPI })
			seen := k >= 0
			var prev uint32
			if seen {
				prev = last[k].seq
			}
			switch {
			case !seen && p.ESPSeq != 1:
				return espOutcome{Fail, exp, packetSeen(p), fmt.Sprintf("the first packet of SPI %d carries sequence number %d", p.SPI, p.ESPSeq)}
			case seen && p.ESPSeq <= prev:
				return espOutcome{Fail, exp, packetSeen(p), fmt.Sprintf("sequence number %d after %d on SPI %d: sent again or going back (a replay, RFC 4303 3.4.3)", p.ESPSeq, prev, p.SPI)}
			}
			if seen {
				last[k].seq = p.ESPSeq
			} else {
				last = append(last, spiSeq{p.SPI, p.ESPSeq})
			}
		}
		return espOutcome{Pass, exp, fmt.Sprintf("%d packets on %d SAs, each from 1 up", len(pkts), len(last)), ""}
	}
	return espOutcome{v: Error, expected: r.Statement, reason: "unknown esp part " + strconv.Quote(r.Part)}
}

// fromPeer is the ESP packets m's role received from m's source address.
// It is the evaluator's scratch storage, valid until the next call.
func (e *evaluator) fromPeer(m trace.Message) []trace.Packet {
	src := m.Src.Addr().Unmap()
	out := e.pkts[:0]
	for _, p := range e.in.Packets {
		if p.Role == m.Role && p.Dir == trace.Received && p.Src.Unmap() == src {
			out = append(out, p)
		}
	}
	e.pkts = out
	return out
}

// spiSeq is an SA's last sequence number seen.
type spiSeq struct{ spi, seq uint32 }

func spiIs(spi uint32, want string) bool {
	n, err := strconv.ParseUint(strings.TrimSpace(want), 10, 32)
	return err == nil && uint32(n) == spi
}

func espSeen(x *trace.ESP) string {
	var b strings.Builder
	b.Grow(24 + 11*len(x.Seq))
	b.WriteString("ESP SPI ")
	b.WriteString(strconv.FormatUint(uint64(x.SPI), 10))
	b.WriteString(" seq ")
	var d [10]byte
	for i, s := range x.Seq {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(strconv.AppendUint(d[:0], uint64(s), 10))
	}
	return b.String()
}

func packetSeen(p trace.Packet) string {
	s := fmt.Sprintf("packet %d: SPI %d seq %d", p.Seq, p.SPI, p.ESPSeq)
	if p.Refusal != "" {
		s += " refused (" + p.Refusal + ")"
	}
	return s
}

func count(pkts []trace.Packet, refusal string) int {
	n := 0
	for _, p := range pkts {
		if p.Refusal == refusal {
			n++
		}
	}
	return n
}

// appendSPIList appends " packets, SPIs " and the packets' SPIs, each once,
// in the order they first came.
func appendSPIList(b []byte, pkts []trace.Packet) []byte {
	b = append(b, " packets, SPIs "...)
	for i, p := range pkts {
		if slices.ContainsFunc(pkts[:i], func(q trace.Packet) bool { return q.SPI == p.SPI }) {
			continue
		}
		if i > 0 {
			b = append(b, ", "...)
		}
		b = strconv.AppendUint(b, uint64(p.SPI), 10)
	}
	return b
}
