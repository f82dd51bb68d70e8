// Package scenario loads a conformance scenario — the steps of a signalling
// flow and its tables, each table with the rules its messages must obey —
// from YAML, refuses a broken one with a "file:line: expected …, saw …"
// error, and hands out the rules of one profile.
//
// It is data access only: it does not read captured messages or judge them
// (package check does), and it knows nothing of sockets or the lab file. The
// scenarios themselves live under /scenarios.
package scenario

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Kind is a rule kind: what a rule compares and how.
type Kind string

// The rule kinds.
const (
	KindStartLine Kind = "start-line"  // method, Request-URI, version, status code, reason
	KindPresent   Kind = "present"     // the header (or the part of it) is there
	KindAbsent    Kind = "absent"      // the header (or the part of it) is not there
	KindCount     Kind = "count"       // number of header values within min..max
	KindEquals    Kind = "equals"      // the field equals a (templated) value
	KindMatches   Kind = "matches"     // the field matches a (templated) regular expression
	KindOneOf     Kind = "one-of"      // the field is one of the listed values
	KindMembers   Kind = "members"     // the header's URIs include every listed URI
	KindContains  Kind = "contains"    // the header's values, over all its lines, include the value (an option tag)
	KindExcludes  Kind = "excludes"    // the header's values, over all its lines, do not include the value
	KindSameAs    Kind = "same-as"     // the field equals a field of another captured message
	KindViaEcho   Kind = "via-echo"    // a response's Via values equal its request's, in order
	KindCompare   Kind = "compare"     // numeric relation with a value or another message's field
	KindDate      Kind = "date"        // an RFC 1123 date in GMT
	KindNonce     Kind = "nonce"       // base64 of at least min_bytes bytes (RAND‖AUTN‖...)
	KindEnvelope  Kind = "envelope"    // transport, source or destination of the captured message
	KindFact      Kind = "fact"        // an observation recorded by the harness
	KindWithin    Kind = "within"      // every URI of the header is one of the listed URIs
	KindAfter     Kind = "after"       // the message was captured after another step's message
	KindDiffers   Kind = "differs"     // the field is not equivalent to a field of another captured message
	KindBodyLen   Kind = "body-length" // Content-Length equals the body's length in octets
	KindESP       Kind = "esp"         // the ESP the message travelled in, or the peer's ESP packets (ESPParts)
)

// ESPParts are the parts of an esp rule: of the step's message, protected
// (it travelled inside ESP) and spi (its SPI equals value); of the ESP
// packets the harness received from the message's sender during the run,
// packets.icv (each verifies: ICV right, trailer well formed), packets.spi
// (each carries one of values, the SA its ports belong to) and
// packets.sequence (per SA the sequence numbers start at 1 and increase).
var ESPParts = []string{"protected", "spi", "packets.icv", "packets.spi", "packets.sequence"}

// Kinds lists every rule kind.
var Kinds = []Kind{KindStartLine, KindPresent, KindAbsent, KindCount, KindEquals, KindMatches,
	KindOneOf, KindMembers, KindContains, KindExcludes, KindSameAs, KindViaEcho, KindCompare, KindDate, KindNonce,
	KindEnvelope, KindFact, KindWithin, KindAfter, KindDiffers, KindBodyLen, KindESP}

// Level is how binding a rule is, taken from its source.
type Level string

// The rule levels. A run's gate fails on must by default; should and table
// results are reported at their level (see check.Result.Gates).
const (
	LevelMust   Level = "must"   // the RFC or TS says MUST or SHALL
	LevelShould Level = "should" // the RFC or TS says SHOULD
	LevelTable  Level = "table"  // only the seed's example shows it; the normative text allows otherwise
)

// Levels lists the rule levels, the most binding first.
var Levels = []Level{LevelMust, LevelShould, LevelTable}

// Within reports whether a rule of level l is judged by a gate at level
// gate: a must gate takes must rules, a should gate must and should rules,
// a table gate all. A rule of no level counts as must; an unknown gate level
// as must.
func (l Level) Within(gate Level) bool { return rank(l) <= max(rank(gate), 0) }

func rank(l Level) int {
	switch l {
	case LevelMust, "":
		return 0
	case LevelShould:
		return 1
	case LevelTable:
		return 2
	}
	return -1
}

// ParseLevel reads a gate or rule level: must, should or table.
func ParseLevel(s string) (Level, error) {
	for _, l := range Levels {
		if string(l) == s {
			return l, nil
		}
	}
	return "", fmt.Errorf("expected a level must, should or table, saw %q", s)
}

// Senders of a step's message.
const (
	SenderSUT     = "sut"     // the system under test sends it: its rules judge the SUT
	SenderHarness = "harness" // the harness sends it (a stimulus): its rules are self-checks
)

// Vars lists the template variables a scenario may use ({{name}}) and the
// lab variables a condition may test.
var Vars = []string{"impu", "impus", "tel_impu", "impi", "realm", "registrar", "home_domain",
	"transport", "ue_ip", "ue_host", "ue_port", "ue_port_c", "ue_port_s", "ue_spi_c", "ue_spi_s",
	"sigcomp", "sec_agree", "ipsec", "pani", "expires", "preference", "pcscf_name", "icscf_name", "scscf_name",
	"visited_network_id", "vccapp_uri", "vccapp_host", "pcscf_entry", "profile",
	"hss_realm", "hss_host", "icscf_diameter_host", "scscf_diameter_host", "scscf_uri", "cx_observed",
	"pcscf_names", "icscf_names", "scscf_names", "resync",
	"pcscf_port_c", "pcscf_port_s", "pcscf_spi_c", "pcscf_spi_s", "sa_alg", "sa_ealg"}

// ListVars are the variables that hold a set: space-separated values. In
// the values of one-of, members and within, a value that is exactly one
// of them ("{{scscf_names}}") stands for each of its members.
var ListVars = []string{"impus", "pcscf_names", "icscf_names", "scscf_names"}

// Facts lists the facts the harness records and a rule may test.
var Facts = []string{"12.impu", "12.status", "12.contact", "12.expires", "12.preference",
	"12.accepted", "5.autn", "7.response"}

// Protocols of a step's message.
const (
	ProtoSIP      = "sip"
	ProtoDiameter = "diameter"
)

// DiameterHeader is the header name of a rule on the header of a Diameter
// message (command code, R flag, Application-Id): the start line's
// equivalent.
const DiameterHeader = "Diameter-Header"

// Scenario is a loaded flow with its tables and rules.
type Scenario struct {
	Name       string
	Title      string
	Steps      []Step
	Tables     []Table
	Conditions []Condition // the conditions the flow describes, with the reason when one does not hold
	profiles   []Profile
	rules      []Rule
}

// Profile is a variant of the scenario.
type Profile struct {
	Name        string
	Description string
	Default     bool
}

// Step is one step of the flow.
type Step struct {
	ID          string
	Title       string
	From, To    string
	Table       string // table id, "" when the step has no table
	Observable  bool   // whether the harness can capture it on SIP
	Why         string // how it is observed, or why it is not
	Answers     string // for a response: the step of the request it answers
	SameMessage string // another step that is the same message on the wire
	Protocol    string // ProtoSIP or ProtoDiameter
	// ObservableWhen holds the lab conditions under which an observable
	// step can be captured at all (the Cx steps: only when the harness
	// plays the HSS); empty means always.
	ObservableWhen []Condition
	// Sender is who sends the step's message: SenderSUT, or SenderHarness
	// for the stimulus the harness itself sends (steps 2, 7 and 13).
	Sender string
}

// Table is one table of the flow with the seed's example text.
type Table struct {
	ID      string
	Title   string
	Step    string
	Example string // verbatim from the specification
	// Format is the command format of a Diameter message (TS 29.229 6.1),
	// for a table the seed gives no example of: "< Diameter Header: 300,
	// REQ, PXY, 16777216 >" and one AVP a line, "< Session-Id >",
	// "{ User-Name }", "[ Destination-Host ]", "*[ AVP ]".
	Format string
	Note   string
	File   string
}

// Condition makes a rule apply only when a lab variable has a value.
// Reason, when set, is what a verdict none says when the condition does not
// hold; Default, when HasDefault, is the variable's value in a run that
// does not provide it (else such a run is a harness error).
type Condition struct {
	Var        string
	Value      string
	Reason     string
	Default    string
	HasDefault bool
}

// Ref names a field of another captured message, or (Self) another part
// of the same header value.
type Ref struct {
	Step   string // resolved step id ("" with Self)
	Header string
	Part   string
	Index  string
	// Of, for a ref to "the request" of a response step, is that response
	// step: when the flow recorded the request under "<Of>.request" (after
	// an SQN re-synchronisation the 401 of step 5 answers the REGISTER with
	// AUTS, not step 2), that message is the one meant.
	Of string
	// Request is the step the referenced step's message answers ("" for a
	// request), for index binding.
	Request string
	// Self compares with part Part of the same header value the rule reads
	// (e.g. a Security-Server's port-c with its own port-s).
	Self bool
}

// StartLine holds the expected start-line fields; "" means not checked.
// Method to ReasonPattern are for SIP; Command, RequestFlag and Application
// are the Diameter header's equivalent (RFC 6733 3).
type StartLine struct {
	Method        string
	RequestURI    string
	Version       string
	Status        string
	Reason        string
	ReasonPattern string // a regular expression the reason phrase matches
	Command       string // command code, decimal
	RequestFlag   string // "true": the R bit is set, "false": it is clear
	Application   string // Application-Id, decimal
}

// Rule is one check on one field of one message.
type Rule struct {
	ID         string
	Table      string
	TableTitle string
	Step       string
	Header     string
	Citation   string
	Statement  string
	Note       string
	Profiles   []string
	When       []Condition
	Level      Level
	// Stimulus says the rule's message is sent by the harness (its step's
	// sender is SenderHarness): a failure there is the harness's error
	// unless a deviation was asked for on that step.
	Stimulus bool

	Kind       Kind
	Part       string         // which part of the header value, see Parts
	Index      string         // which value: "" (the first), "all", "last", "any", "binding" or a 0-based number
	Mechanism  string         // only the values whose mechanism (the token before ';') is this, e.g. ipsec-3gpp (RFC 3329 2.2)
	Value      string         // templated
	Values     []string       // templated
	Pattern    string         // templated regular expression
	Regexp     *regexp.Regexp // compiled Pattern when it holds no template variable
	IgnoreCase bool
	// Optional: a value without the field is skipped, and the rule passes
	// when none has it (e.g. an optional AVP with a default, a q that RFC
	// 3329 leaves out); on same-as, the field must then be absent exactly
	// when the referenced one is (an echo of an optional header).
	Optional bool
	Op       string // compare: eq, ne, lt, le, gt, ge
	Offset   int    // compare: added to the reference value
	Min, Max int    // count, compare: bounds (inclusive), -1 when unset
	MinBytes int    // nonce
	Ref      *Ref
	Start    StartLine
	Reason   *regexp.Regexp // compiled Start.ReasonPattern
	Fact     string
	Protocol string // the protocol of the step's message: ProtoSIP or ProtoDiameter

	Request     string // the step of the request this rule's message answers, "" for a request
	SameMessage string // another step id carrying the same message
	// CountedAs, when set, is the id of the rule that judges the same field
	// of the same message on the wire (the A.3.2.2-14 copy of an A.3.2.2-10
	// rule: the 200 OK of steps 10 and 14 is one message): both are
	// reported, the field counts once in the gate and the summary, under
	// CountedAs.
	CountedAs string

	File string // where the rule is written
	Line int
}

// SpecName is the rule as a spec name: "A.3.2.2-5 401 Unauthorized ›
// WWW-Authenticate › algorithm is AKAv1-MD5".
func (r Rule) SpecName() string {
	return fmt.Sprintf("%s %s › %s › %s", r.Table, r.TableTitle, r.Header, r.Statement)
}

// InProfile reports whether the rule belongs to the profile.
func (r Rule) InProfile(p string) bool {
	for _, q := range r.Profiles {
		if q == p {
			return true
		}
	}
	return false
}

// Profiles returns the profile names, the default first.
func (s *Scenario) Profiles() []string {
	var out []string
	for _, p := range s.profiles {
		if p.Default {
			out = append([]string{p.Name}, out...)
		} else {
			out = append(out, p.Name)
		}
	}
	return out
}

// ProfileInfo returns the profiles with their descriptions, in file order.
func (s *Scenario) ProfileInfo() []Profile { return append([]Profile(nil), s.profiles...) }

// DefaultProfile is the profile marked default.
func (s *Scenario) DefaultProfile() string {
	if p := s.Profiles(); len(p) > 0 {
		return p[0]
	}
	return ""
}

// Rules returns the rules of a profile in table order ("" = the default).
func (s *Scenario) Rules(profile string) ([]Rule, error) {
	if profile == "" {
		profile = s.DefaultProfile()
	}
	known := s.Profiles()
	found := false
	for _, p := range known {
		found = found || p == profile
	}
	if !found {
		sorted := append([]string(nil), known...)
		sort.Strings(sorted)
		return nil, fmt.Errorf("scenario %s: expected a profile among %s, saw %q", s.Name, strings.Join(sorted, ", "), profile)
	}
	var out []Rule
	for _, r := range s.rules {
		if r.InProfile(profile) {
			out = append(out, r)
		}
	}
	return out, nil
}

// AllRules returns every rule of every profile, in table order.
func (s *Scenario) AllRules() []Rule { return append([]Rule(nil), s.rules...) }

// Step returns the step with the id.
func (s *Scenario) Step(id string) (Step, bool) {
	for _, st := range s.Steps {
		if st.ID == id {
			return st, true
		}
	}
	return Step{}, false
}
