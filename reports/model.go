package reports

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"imsconform/harness/check"
	"imsconform/harness/lab"
	"imsconform/harness/trace"
)

// SchemaVersion is the version of the JSON report schema (SCHEMA.md). It
// changes when a field is removed, renamed or changes meaning; adding a field
// does not change it.
const SchemaVersion = 1

// verdictOrder is the order verdicts are listed in (the convention's order).
var verdictOrder = []check.Verdict{check.Pass, check.Fail, check.Inconc, check.None, check.Error}

// known reports whether v is one of the five verdicts.
func known(v check.Verdict) bool {
	switch v {
	case check.Pass, check.Fail, check.Inconc, check.None, check.Error:
		return true
	}
	return false
}

// Counts is the number of rules per verdict. A rule whose verdict is not one
// of the five is a harness defect and is counted as error.
type Counts struct {
	Pass   int `json:"pass"`
	Fail   int `json:"fail"`
	Inconc int `json:"inconc"`
	None   int `json:"none"`
	Error  int `json:"error"`
}

// Of returns the count for v.
func (c Counts) Of(v check.Verdict) int {
	switch v {
	case check.Pass:
		return c.Pass
	case check.Fail:
		return c.Fail
	case check.Inconc:
		return c.Inconc
	case check.None:
		return c.None
	}
	return c.Error
}

// Total is the number of rules counted.
func (c Counts) Total() int { return c.Pass + c.Fail + c.Inconc + c.None + c.Error }

func countResults(rs []check.Result) Counts {
	var c Counts
	for _, r := range rs {
		switch r.Verdict {
		case check.Pass:
			c.Pass++
		case check.Fail:
			c.Fail++
		case check.Inconc:
			c.Inconc++
		case check.None:
			c.None++
		default:
			c.Error++
		}
	}
	return c
}

// effective maps a verdict that is not one of the five to error.
func effective(v check.Verdict) check.Verdict {
	if known(v) {
		return v
	}
	return check.Error
}

// Overall is the run's verdict: the worst of its gating rules'
// (check.Worst; a should or table rule that fails or is inconc does not
// gate, see check.Result.Gates), and error when the harness reported errors
// or a rule carries an unknown verdict. A run with no rules and no errors is
// none.
func Overall(r *Run) check.Verdict {
	if r == nil {
		return check.Error
	}
	vs := make([]check.Verdict, 0, len(r.Results)+1)
	for _, res := range r.Results {
		v := effective(res.Verdict)
		switch st, _ := r.Gate.Judge(res); st {
		case Below, Waived, Counted, Left:
			v = check.Pass // shown at its standing, it does not make the run's verdict
		}
		vs = append(vs, v)
	}
	if len(r.Errors) > 0 {
		vs = append(vs, check.Error)
	}
	return check.Worst(vs...)
}

// stepLess orders step ids by their leading number, then as text, so that
// "2" < "5" < "10" < "11" < "14".
func stepLess(a, b string) bool {
	na, oka := leadingInt(a)
	nb, okb := leadingInt(b)
	switch {
	case oka && okb && na != nb:
		return na < nb
	case oka != okb:
		return oka // numbered steps first
	}
	return a < b
}

func leadingInt(s string) (int, bool) {
	i := 0
	for i < len(s) && i < 9 && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, false
	}
	n, err := strconv.Atoi(s[:i])
	return n, err == nil
}

// stepIDs returns every step named by r.Steps or r.Tables, in flow order.
func stepIDs(r *Run) []string {
	seen := map[string]bool{}
	var ids []string
	add := func(s string) {
		if s != "" && !seen[s] {
			seen[s] = true
			ids = append(ids, s)
		}
	}
	for s := range r.Steps {
		add(s)
	}
	for _, t := range r.Tables {
		add(t.Step)
	}
	sort.Slice(ids, func(i, j int) bool { return stepLess(ids[i], ids[j]) })
	return ids
}

// seqSet is the set of Seq values present in the trace.
func seqSet(msgs []trace.Message) map[int]bool {
	s := make(map[int]bool, len(msgs))
	for _, m := range msgs {
		s[m.Seq] = true
	}
	return s
}

// received reports whether step's message is in the trace.
func received(r *Run, seqs map[int]bool, step string) (int, bool) {
	seq := r.Steps[step]
	return seq, seq > 0 && seqs[seq]
}

// stepsBySeq maps a trace Seq to the steps whose message it is, in flow order.
func stepsBySeq(r *Run) map[int][]string {
	m := map[int][]string{}
	for _, s := range stepIDs(r) {
		if seq := r.Steps[s]; seq > 0 {
			m[seq] = append(m[seq], s)
		}
	}
	return m
}

// tablesByStep maps a step id to the tables of that step, in r.Tables order.
func tablesByStep(r *Run) map[string][]TableInfo {
	m := map[string][]TableInfo{}
	for _, t := range r.Tables {
		if t.Step != "" {
			m[t.Step] = append(m[t.Step], t)
		}
	}
	return m
}

// msgKind classifies a captured message for labels.
type msgKind int

const (
	kindSIP       msgKind = iota // a SIP start line was found
	kindDiameter                 // a Diameter header was found
	kindKeepAlive                // CRLF keep-alive
	kindBad                      // does not parse
)

// describe returns the label of a captured message: its SIP start line, its
// Diameter command, or what is wrong with it. The label is printable text.
func describe(m trace.Message) (string, msgKind) {
	if len(bytes.Trim(m.Raw, "\r\n")) == 0 && len(m.Raw) > 0 {
		return "keep-alive (CRLF)", kindKeepAlive
	}
	notParsed := strings.Contains(strings.ToLower(m.Note), "not parse")
	if m.Proto == trace.Diameter {
		if l, ok := diameterLabel(m.Raw); ok && !notParsed {
			return l, kindDiameter
		}
		return fmt.Sprintf("unparseable Diameter message (%d bytes)", len(m.Raw)), kindBad
	}
	if l, ok := sipStartLine(m.Raw); ok && !notParsed {
		return l, kindSIP
	}
	name := "datagram"
	if strings.EqualFold(m.Transport, "TCP") {
		name = "message"
	}
	return fmt.Sprintf("unparseable %s (%d bytes)", name, len(m.Raw)), kindBad
}

// sipStartLine returns the first line of raw when it looks like a SIP
// request line or status line.
func sipStartLine(raw []byte) (string, bool) {
	head := raw
	if len(head) > 2048 {
		head = head[:2048]
	}
	i := bytes.IndexByte(head, '\n')
	if i < 0 {
		if len(raw) > len(head) {
			return "", false
		}
		i = len(head)
	}
	line := strings.TrimRight(string(head[:i]), "\r")
	if !utf8.ValidString(line) || strings.IndexFunc(line, func(r rune) bool { return unicode.IsControl(r) }) >= 0 {
		return "", false
	}
	f := strings.Fields(line)
	if len(f) >= 2 && strings.HasPrefix(strings.ToUpper(f[0]), "SIP/") {
		if c, err := strconv.Atoi(f[1]); err == nil && c >= 100 && c <= 699 && len(f[1]) == 3 {
			return line, true
		}
		return "", false
	}
	if len(f) == 3 && strings.HasPrefix(strings.ToUpper(f[2]), "SIP/") && isToken(f[0]) {
		return line, true
	}
	return "", false
}

func isToken(s string) bool {
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("-.!%*_+`'~", r)) {
			return false
		}
	}
	return s != ""
}

var diameterCommands = map[uint32][2]string{
	300: {"UAR", "UAA"}, 301: {"SAR", "SAA"}, 302: {"LIR", "LIA"},
	303: {"MAR", "MAA"}, 304: {"RTR", "RTA"}, 305: {"PPR", "PPA"},
	257: {"CER", "CEA"}, 280: {"DWR", "DWA"}, 282: {"DPR", "DPA"},
}

// diameterLabel names a Diameter message from its header (RFC 6733 3).
func diameterLabel(raw []byte) (string, bool) {
	if len(raw) < 20 || raw[0] != 1 {
		return "", false
	}
	length := uint32(raw[1])<<16 | uint32(raw[2])<<8 | uint32(raw[3])
	if length < 20 || int(length) > len(raw) {
		return "", false
	}
	request := raw[4]&0x80 != 0
	code := binary.BigEndian.Uint32(raw[4:8]) & 0xFFFFFF
	if n, ok := diameterCommands[code]; ok {
		if request {
			return fmt.Sprintf("Diameter %s (%d)", n[0], code), true
		}
		return fmt.Sprintf("Diameter %s (%d)", n[1], code), true
	}
	if request {
		return fmt.Sprintf("Diameter request %d", code), true
	}
	return fmt.Sprintf("Diameter answer %d", code), true
}

// addr formats an endpoint; the zero value gives "".
func addr(a interface {
	IsValid() bool
	String() string
}) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// stamp formats t in UTC, or "" when t is zero.
func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// duration returns Finished-Started, or 0 when either is unknown.
func duration(r *Run) time.Duration {
	if r.Started.IsZero() || r.Finished.IsZero() || r.Finished.Before(r.Started) {
		return 0
	}
	return r.Finished.Sub(r.Started)
}

// printable makes s safe for a console or a single-line label: control
// characters (line ends included), invalid UTF-8 and bidi controls become Go
// escapes; a tab becomes a space.
func printable(s string) string { return escapeControls(s, false) }

// Printable makes s safe to print on a terminal or in a one-line label:
// control characters (ESC of an ANSI sequence, line ends included), invalid
// UTF-8, bidi controls and line separators become Go escapes (\x1b, \n,
// \u202e); a tab becomes a space. Every value that comes from the SUT goes
// through it before it is printed.
func Printable(s string) string { return printable(s) }

// visible is printable for text shown as a block (HTML cells, raw
// messages): it keeps line ends and tabs.
func visible(s string) string { return escapeControls(s, true) }

func escapeControls(s string, block bool) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == '\u2028' || r == '\u2029' {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case block && (r == '\n' || r == '\r' || r == '\t'):
			b.WriteRune(r)
		case r == '\t':
			b.WriteByte(' ')
		case unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Bidi_Control, r):
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// truncate cuts s to at most n runes, marking the cut with "…".
func truncate(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	rs := []rune(s)
	return string(rs[:n-1]) + "…"
}

// LabView is the lab profile as reports write it: an allow-list of fields,
// secrets only as "[redacted]" when given, "" when not.
type LabView struct {
	Profile    string `json:"profile"`
	SUTName    string `json:"sut_name"`
	SUTVersion string `json:"sut_version"`
	PCSCF      string `json:"pcscf"`
	Transport  string `json:"transport"`
	SecAgree   bool   `json:"sec_agree"`
	IPsec      bool   `json:"ipsec"`
	DNS        string `json:"dns"`
	HomeDomain string `json:"home_domain"`
	Realm      string `json:"realm"`
	Registrar  string `json:"registrar"`
	Subscriber struct {
		IMPI  string   `json:"impi"`
		IMPUs []string `json:"impus"`
		K     string   `json:"k"`
		OP    string   `json:"op"`
		OPc   string   `json:"opc"`
		AMF   string   `json:"amf"`
		SQN   string   `json:"sqn"`
	} `json:"subscriber"`
	UE struct {
		Address           string `json:"address"`
		Port              int    `json:"port"`
		PortC             int    `json:"port_c"`
		PortS             int    `json:"port_s"`
		SPIC              uint32 `json:"spi_c"`
		SPIS              uint32 `json:"spi_s"`
		Sigcomp           bool   `json:"sigcomp"`
		AccessNetworkInfo string `json:"access_network_info"`
		Expires           int    `json:"expires"`
		Preference        string `json:"preference"`
	} `json:"ue"`
	VCCApp struct {
		Listen     string   `json:"listen"`
		URI        string   `json:"uri"`
		AcceptFrom []string `json:"accept_from"`
	} `json:"vcc_app"`
	HSS struct {
		Listen      string `json:"listen"`
		OriginHost  string `json:"origin_host"`
		OriginRealm string `json:"origin_realm"`
		ICSCFPeer   string `json:"icscf_peer"`
		SCSCFPeer   string `json:"scscf_peer"`
		ServerName  string `json:"server_name"`
		PeerTimeout string `json:"peer_timeout"` // Go duration; "" when unset
	} `json:"hss"`
	Core struct {
		PCSCFName        string `json:"pcscf_name"`
		ICSCFName        string `json:"icscf_name"`
		SCSCFName        string `json:"scscf_name"`
		VisitedNetworkID string `json:"visited_network_id"`
		MaxExpires       int    `json:"max_expires"`
	} `json:"core"`
	StepTimeout string `json:"step_timeout"` // Go duration, e.g. "5s"
}

const redactedText = "[redacted]"

func redact(s lab.Secret) string {
	if s.IsZero() {
		return ""
	}
	return redactedText
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return append([]string(nil), s...)
}

// labView copies the allow-listed fields of p; nil gives nil.
func labView(p *lab.Profile) *LabView {
	if p == nil {
		return nil
	}
	v := &LabView{
		Profile: p.Profile, SUTName: p.SUT.Name, SUTVersion: p.SUT.Version, PCSCF: p.SUT.PCSCF, Transport: p.SUT.Transport, SecAgree: p.SUT.SecAgree, IPsec: p.SUT.IPsec, DNS: p.SUT.DNS,
		HomeDomain: p.HomeDomain, Realm: p.Realm, Registrar: p.Registrar,
	}
	s := p.Subscriber
	v.Subscriber.IMPI, v.Subscriber.IMPUs = s.IMPI, nonNil(s.IMPUs)
	v.Subscriber.K, v.Subscriber.OP, v.Subscriber.OPc = redact(s.K), redact(s.OP), redact(s.OPc)
	v.Subscriber.AMF, v.Subscriber.SQN = s.AMF, s.SQN
	u := p.UE
	v.UE.Address, v.UE.Port, v.UE.PortC, v.UE.PortS = u.Address, u.Port, u.PortC, u.PortS
	v.UE.SPIC, v.UE.SPIS, v.UE.Sigcomp = u.SPIC, u.SPIS, u.Sigcomp
	v.UE.AccessNetworkInfo, v.UE.Expires, v.UE.Preference = u.AccessNetworkInfo, u.Expires, u.Preference
	v.VCCApp.Listen, v.VCCApp.URI, v.VCCApp.AcceptFrom = p.VCCApp.Listen, p.VCCApp.URI, nonNil(p.VCCApp.AcceptFrom)
	h := p.HSS
	v.HSS.Listen, v.HSS.OriginHost, v.HSS.OriginRealm = h.Listen, h.OriginHost, h.OriginRealm
	v.HSS.ICSCFPeer, v.HSS.SCSCFPeer, v.HSS.ServerName = h.ICSCFPeer, h.SCSCFPeer, h.ServerName
	if h.PeerTimeout != 0 {
		v.HSS.PeerTimeout = h.PeerTimeout.String()
	}
	c := p.Core
	v.Core.PCSCFName, v.Core.ICSCFName, v.Core.SCSCFName = c.PCSCFName, c.ICSCFName, c.SCSCFName
	v.Core.VisitedNetworkID, v.Core.MaxExpires = c.VisitedNetworkID, c.MaxExpires
	if p.Timeouts.Step != 0 {
		v.StepTimeout = p.Timeouts.Step.String()
	}
	return v
}
