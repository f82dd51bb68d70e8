package scenario

import (
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"imsconform/harness/diameter"
	"imsconform/harness/yamldoc"
)

type flowDoc struct {
	Scenario   string         `yaml:"scenario"`
	Title      string         `yaml:"title"`
	Profiles   []profileDoc   `yaml:"profiles"`
	Conditions []conditionDoc `yaml:"conditions"`
	Steps      []stepDoc      `yaml:"steps"`
}

// conditionDoc describes a lab condition rules test with when: the reason a
// rule does not apply when it does not hold, and the variable's value in a
// run that does not provide it.
type conditionDoc struct {
	Var       string  `yaml:"var"`
	Value     string  `yaml:"value"`
	Otherwise string  `yaml:"otherwise"`
	Unset     *string `yaml:"unset"`
}

type profileDoc struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	Default     bool   `yaml:"default"`
}

type stepDoc struct {
	ID             string            `yaml:"id"`
	Title          string            `yaml:"title"`
	From           string            `yaml:"from"`
	To             string            `yaml:"to"`
	Table          string            `yaml:"table"`
	Observable     bool              `yaml:"observable"`
	Why            string            `yaml:"why"`
	Answers        string            `yaml:"answers"`
	SameMessage    string            `yaml:"same_message"`
	Protocol       string            `yaml:"protocol"`
	ObservableWhen map[string]string `yaml:"observable_when"`
	Sender         string            `yaml:"sender"`
}

type tableDoc struct {
	Table     string    `yaml:"table"`
	Title     string    `yaml:"title"`
	Step      string    `yaml:"step"`
	Note      string    `yaml:"note"`
	Example   string    `yaml:"example"`
	Format    string    `yaml:"format"`
	RulesLike string    `yaml:"rules_like"`
	Rules     []ruleDoc `yaml:"rules"`
}

type ruleDoc struct {
	ID         string            `yaml:"id"`
	Header     string            `yaml:"header"`
	Citation   string            `yaml:"citation"`
	Statement  string            `yaml:"statement"`
	Note       string            `yaml:"note"`
	Profiles   []string          `yaml:"profiles"`
	When       map[string]string `yaml:"when"`
	Level      string            `yaml:"level"`
	Kind       string            `yaml:"kind"`
	Part       string            `yaml:"part"`
	Index      string            `yaml:"index"`
	Mechanism  string            `yaml:"mechanism"`
	Value      *string           `yaml:"value"`
	Values     []string          `yaml:"values"`
	Pattern    string            `yaml:"pattern"`
	IgnoreCase bool              `yaml:"ignore_case"`
	Optional   bool              `yaml:"optional"`
	Op         string            `yaml:"op"`
	Offset     int               `yaml:"offset"`
	Min        *int              `yaml:"min"`
	Max        *int              `yaml:"max"`
	MinBytes   int               `yaml:"min_bytes"`
	Ref        *refDoc           `yaml:"ref"`
	Method     string            `yaml:"method"`
	RequestURI string            `yaml:"request_uri"`
	Version    string            `yaml:"version"`
	Status     string            `yaml:"status"`
	Reason     string            `yaml:"reason"`
	ReasonPat  string            `yaml:"reason_pattern"`
	Command    string            `yaml:"command"`
	Request    *bool             `yaml:"request"`
	App        string            `yaml:"application"`
	Fact       string            `yaml:"fact"`
}

type refDoc struct {
	Step   string `yaml:"step"`
	Header string `yaml:"header"`
	Part   string `yaml:"part"`
	Index  string `yaml:"index"`
	Of     string `yaml:"of"`
}

// Load reads dir/flow.yaml and dir/tables/*.yaml from fsys and checks them.
func Load(fsys fs.FS, dir string) (*Scenario, error) {
	flowFile := path.Join(dir, "flow.yaml")
	var fd flowDoc
	fnode, err := decodeFile(fsys, flowFile, &fd)
	if err != nil {
		return nil, err
	}
	s := &Scenario{Name: fd.Scenario, Title: fd.Title}
	if s.Name == "" {
		return nil, fmt.Errorf("%s:%d: expected a scenario name (scenario:), saw none", flowFile, fnode.Line)
	}
	defaults := 0
	seenP := map[string]bool{}
	pnodes := seqItems(fnode, "profiles")
	for i, p := range fd.Profiles {
		ln := lineOf(pnodes, i, fnode)
		if p.Name == "" || seenP[p.Name] {
			return nil, fmt.Errorf("%s:%d: expected a unique profile name, saw %q", flowFile, ln, p.Name)
		}
		seenP[p.Name] = true
		if p.Default {
			defaults++
		}
		s.profiles = append(s.profiles, Profile(p))
	}
	if defaults != 1 {
		return nil, fmt.Errorf("%s:%d: expected exactly one default profile, saw %d", flowFile, fnode.Line, defaults)
	}
	cnodes := seqItems(fnode, "conditions")
	for i, c := range fd.Conditions {
		ln := lineOf(cnodes, i, fnode)
		if !isVar(c.Var) || c.Otherwise == "" {
			return nil, fmt.Errorf("%s:%d: expected a condition with a lab variable (var) and a reason (otherwise), saw var %q otherwise %q", flowFile, ln, c.Var, c.Otherwise)
		}
		for _, o := range s.Conditions {
			if o.Var == c.Var && o.Value == c.Value {
				return nil, fmt.Errorf("%s:%d: expected a unique condition, saw %s=%q again", flowFile, ln, c.Var, c.Value)
			}
		}
		cond := Condition{Var: c.Var, Value: c.Value, Reason: c.Otherwise}
		if c.Unset != nil {
			cond.Default, cond.HasDefault = *c.Unset, true
		}
		s.Conditions = append(s.Conditions, cond)
	}
	snodes := seqItems(fnode, "steps")
	stepLine := map[string]int{}
	for i, st := range fd.Steps {
		ln := lineOf(snodes, i, fnode)
		if st.ID == "" || stepLine[st.ID] != 0 {
			return nil, fmt.Errorf("%s:%d: expected a unique step id, saw %q", flowFile, ln, st.ID)
		}
		if st.Title == "" || st.Why == "" {
			return nil, fmt.Errorf("%s:%d: expected step %s to have a title and a why, saw title %q why %q", flowFile, ln, st.ID, st.Title, st.Why)
		}
		switch st.Protocol {
		case "":
			st.Protocol = ProtoSIP
		case ProtoSIP, ProtoDiameter:
		default:
			return nil, fmt.Errorf("%s:%d: expected step %s protocol sip or diameter, saw %q", flowFile, ln, st.ID, st.Protocol)
		}
		ow, err := s.conditions(st.ObservableWhen)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: step %s: %v", flowFile, ln, st.ID, err)
		}
		switch st.Sender {
		case "":
			st.Sender = SenderSUT
		case SenderSUT, SenderHarness:
		default:
			return nil, fmt.Errorf("%s:%d: expected step %s sender %s or %s, saw %q", flowFile, ln, st.ID, SenderSUT, SenderHarness, st.Sender)
		}
		stepLine[st.ID] = ln
		s.Steps = append(s.Steps, Step{ID: st.ID, Title: st.Title, From: st.From, To: st.To, Table: st.Table,
			Observable: st.Observable, Why: st.Why, Answers: st.Answers, SameMessage: st.SameMessage,
			Protocol: st.Protocol, ObservableWhen: ow, Sender: st.Sender})
	}
	for _, st := range s.Steps {
		ln := stepLine[st.ID]
		for _, ref := range []string{st.Answers, st.SameMessage} {
			if ref != "" && stepLine[ref] == 0 {
				return nil, fmt.Errorf("%s:%d: expected an existing step id in step %s, saw %q", flowFile, ln, st.ID, ref)
			}
		}
	}

	files, err := fs.Glob(fsys, path.Join(dir, "tables", "*.yaml"))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	sort.Strings(files)
	type pending struct {
		like string
		idx  int
		file string
		line int
	}
	var likes []pending
	tableRules := map[string][]Rule{}
	seenID := map[string]string{}
	for _, file := range files {
		var td tableDoc
		tnode, err := decodeFile(fsys, file, &td)
		if err != nil {
			return nil, err
		}
		if td.Table == "" || td.Title == "" || (td.Example == "" && td.Format == "") {
			return nil, fmt.Errorf("%s:%d: expected table, title and example (or format), saw table %q title %q", file, tnode.Line, td.Table, td.Title)
		}
		for _, t := range s.Tables {
			if t.ID == td.Table {
				return nil, fmt.Errorf("%s:%d: expected a unique table id, saw %q again (first in %s)", file, tnode.Line, td.Table, t.File)
			}
		}
		st, ok := s.Step(td.Step)
		if !ok || st.Table != td.Table {
			return nil, fmt.Errorf("%s:%d: expected step to name a step whose table is %s, saw step %q", file, tnode.Line, td.Table, td.Step)
		}
		if td.Format != "" && st.Protocol != ProtoDiameter {
			return nil, fmt.Errorf("%s:%d: expected a command format only on a Diameter step, saw one on step %s (%s)", file, tnode.Line, st.ID, st.Protocol)
		}
		t := Table{ID: td.Table, Title: td.Title, Step: td.Step, Example: td.Example, Format: td.Format, Note: td.Note, File: file}
		s.Tables = append(s.Tables, t)
		if td.RulesLike != "" {
			likes = append(likes, pending{td.RulesLike, len(s.Tables) - 1, file, tnode.Line})
		}
		rnodes := seqItems(tnode, "rules")
		for i, rd := range td.Rules {
			ln := lineOf(rnodes, i, tnode)
			r, err := s.buildRule(rd, t, st, file, ln)
			if err != nil {
				return nil, err
			}
			if prev, dup := seenID[r.ID]; dup {
				return nil, fmt.Errorf("%s:%d: expected a unique rule id, saw %q again (first at %s)", file, ln, r.ID, prev)
			}
			seenID[r.ID] = fmt.Sprintf("%s:%d", file, ln)
			tableRules[t.ID] = append(tableRules[t.ID], r)
		}
	}
	for _, l := range likes {
		src, ok := tableRules[l.like]
		if !ok {
			return nil, fmt.Errorf("%s:%d: expected rules_like to name a loaded table, saw %q", l.file, l.line, l.like)
		}
		t := s.Tables[l.idx]
		st, _ := s.Step(t.Step)
		for _, r := range src {
			c := r
			c.ID = t.ID + strings.TrimPrefix(r.ID, l.like)
			c.Table, c.TableTitle, c.Step = t.ID, t.Title, t.Step
			c.Request, c.SameMessage = st.Answers, st.SameMessage
			c.Stimulus = st.Sender == SenderHarness
			if st.SameMessage != "" && st.SameMessage == r.Step {
				c.CountedAs = r.ID // one message on the wire: its fields count once
			}
			c.Profiles = append([]string(nil), r.Profiles...)
			if prev, dup := seenID[c.ID]; dup {
				return nil, fmt.Errorf("%s:%d: expected a unique rule id, saw %q again (first at %s)", l.file, l.line, c.ID, prev)
			}
			seenID[c.ID] = fmt.Sprintf("%s:%d", l.file, l.line)
			tableRules[t.ID] = append(tableRules[t.ID], c)
		}
	}
	for _, st := range s.Steps {
		if st.Table == "" {
			continue
		}
		found := false
		for _, t := range s.Tables {
			found = found || t.ID == st.Table
		}
		if !found {
			return nil, fmt.Errorf("%s:%d: expected a table file for %s of step %s under %s, saw none", flowFile, stepLine[st.ID], st.Table, st.ID, path.Join(dir, "tables"))
		}
	}
	for _, t := range s.Tables {
		s.rules = append(s.rules, tableRules[t.ID]...)
	}
	return s, nil
}

func decodeFile(fsys fs.FS, file string, v any) (*yaml.Node, error) {
	data, err := fs.ReadFile(fsys, file)
	if err != nil {
		return nil, fmt.Errorf("%s: expected a readable scenario file, saw %v", file, err)
	}
	return yamldoc.Decode(file, "scenario", data, v)
}

func seqItems(m *yaml.Node, key string) []*yaml.Node { return yamldoc.Items(m, key) }

func lineOf(items []*yaml.Node, i int, parent *yaml.Node) int { return yamldoc.Line(items, i, parent) }

var reVar = regexp.MustCompile(`\{\{\s*([^{}]*?)\s*\}\}`)

// TemplateVars returns the variable names used in a template.
func TemplateVars(t string) []string {
	var out []string
	for _, m := range reVar.FindAllStringSubmatch(t, -1) {
		out = append(out, m[1])
	}
	return out
}

// Expand fills {{name}} in t from vars; quote, when set, transforms each
// value (e.g. regexp.QuoteMeta). It fails on a variable vars does not hold.
func Expand(t string, vars map[string]string, quote func(string) string) (string, error) {
	return ParseTemplate(t).Fill(func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}, quote)
}

// Template is a templated rule text split once into its literal text and
// the {{variables}} between, so that filling it for a run, or for each UE of
// a load run, does not search the text again.
type Template struct {
	text string   // a template without variables
	lits []string // lits[i] stands before vars[i]; the last one ends the text
	vars []string
}

// ParseTemplate splits t: each {{name}} (white space around the name
// trimmed) is a variable; "{{" without a closing "}}" is text.
func ParseTemplate(t string) Template {
	if !strings.Contains(t, "{{") {
		return Template{text: t}
	}
	var tp Template
	for {
		i := strings.Index(t, "{{")
		if i < 0 {
			break
		}
		j := strings.Index(t[i:], "}}")
		if j < 0 {
			break
		}
		tp.lits = append(tp.lits, t[:i])
		tp.vars = append(tp.vars, strings.TrimSpace(t[i+2:i+j]))
		t = t[i+j+2:]
	}
	if len(tp.vars) == 0 {
		return Template{text: t} // "{{" that nothing closes
	}
	tp.lits = append(tp.lits, t)
	return tp
}

// Vars are the variables the template reads, in order.
func (tp Template) Vars() []string { return tp.vars }

// Fill writes the template with the values lookup gives (quote, when set,
// transforming each). It fails on the first variable lookup does not know.
func (tp Template) Fill(lookup func(name string) (string, bool), quote func(string) string) (string, error) {
	if len(tp.vars) == 0 {
		return tp.text, nil
	}
	one := len(tp.vars) == 1 && tp.lits[0] == "" && tp.lits[1] == ""
	var b strings.Builder
	for i, name := range tp.vars {
		v, ok := lookup(name)
		if !ok {
			return "", fmt.Errorf("expected lab value {{%s}}, saw none in this run's variables", name)
		}
		if quote != nil {
			v = quote(v)
		}
		if one {
			return v, nil
		}
		if i == 0 {
			b.Grow(len(tp.lits[0]) + len(v) + 32)
		}
		b.WriteString(tp.lits[i])
		b.WriteString(v)
	}
	b.WriteString(tp.lits[len(tp.lits)-1])
	return b.String(), nil
}

func isVar(name string) bool {
	for _, v := range Vars {
		if v == name {
			return true
		}
	}
	return false
}

var (
	reIndex    = regexp.MustCompile(`^(|all|last|any|binding|[0-9]+)$`)
	reRefIndex = regexp.MustCompile(`^(|all|last|binding|[0-9]+)$`)
	parts      = map[string]bool{"": true, "value": true, "uri": true, "uri.scheme": true, "uri.user": true,
		"uri.host": true, "uri.port": true, "uri.hostport": true, "display": true, "token": true,
		"digest.scheme": true, "via.protocol": true, "via.transport": true, "via.host": true,
		"via.port": true, "via.sent-by": true, "cseq.seq": true, "cseq.method": true, "expiry": true,
		"unquoted": true, "aka.rand": true, "aka.autn": true}
	envParts = map[string]bool{"transport": true, "src.ip": true, "src.port": true, "dst.ip": true, "dst.port": true}
)

// ValidPart reports whether p names a part of a header value: value, uri,
// uri.scheme|user|host|port|hostport, uri.param:NAME, param:NAME, display,
// token (before the first ';'), unquoted (the token, a quoted-string
// unquoted: RFC 3455 4.3's token / quoted-string), digest.scheme,
// digest:NAME, aka.rand and aka.autn (RAND and AUTN of a Digest nonce, in
// hex: RFC 3310 3.1), via.protocol|transport|host|port|sent-by, cseq.seq,
// cseq.method, expiry (the value's expires parameter, else the message's
// Expires header: the expiry of a binding, RFC 3261 10.2.1.1 and 10.3).
func ValidPart(p string) bool {
	if parts[p] {
		return true
	}
	for _, pre := range []string{"uri.param:", "param:", "digest:"} {
		if strings.HasPrefix(p, pre) && len(p) > len(pre) {
			return true
		}
	}
	return false
}

func (s *Scenario) buildRule(rd ruleDoc, t Table, st Step, file string, ln int) (Rule, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%s:%d: rule %q: "+format, append([]any{file, ln, rd.ID}, a...)...)
	}
	if rd.ID == "" {
		return Rule{}, fmt.Errorf("%s:%d: expected a rule id, saw none", file, ln)
	}
	if !strings.HasPrefix(rd.ID, t.ID+"/") {
		return Rule{}, bad("expected an id starting with %q, saw %q", t.ID+"/", rd.ID)
	}
	if strings.TrimSpace(rd.Statement) == "" {
		return Rule{}, bad("expected a statement of what must hold, saw an empty one")
	}
	if strings.ContainsAny(rd.Statement, "\n") {
		return Rule{}, bad("expected a one-line statement, saw %d lines", strings.Count(rd.Statement, "\n")+1)
	}
	if rd.Header == "" || rd.Citation == "" {
		return Rule{}, bad("expected header and citation, saw header %q citation %q", rd.Header, rd.Citation)
	}
	level := Level(rd.Level)
	switch level {
	case LevelMust, LevelShould, LevelTable:
	case "":
		return Rule{}, bad("expected a level (must: the RFC or TS says MUST or SHALL; should: SHOULD; table: only the seed's example shows it), saw none")
	default:
		return Rule{}, bad("expected level must, should or table, saw %q", rd.Level)
	}
	r := Rule{ID: rd.ID, Table: t.ID, TableTitle: t.Title, Step: t.Step, Header: rd.Header,
		Citation: rd.Citation, Statement: strings.TrimSpace(rd.Statement), Note: strings.TrimSpace(rd.Note),
		Level: level, Stimulus: st.Sender == SenderHarness, Mechanism: rd.Mechanism,
		Kind: Kind(rd.Kind), Part: rd.Part, Index: rd.Index, Values: rd.Values, Pattern: rd.Pattern,
		IgnoreCase: rd.IgnoreCase, Optional: rd.Optional, Op: rd.Op, Offset: rd.Offset, Min: -1, Max: -1, MinBytes: rd.MinBytes,
		Start: StartLine{Method: rd.Method, RequestURI: rd.RequestURI, Version: rd.Version, Status: rd.Status, Reason: rd.Reason,
			ReasonPattern: rd.ReasonPat, Command: rd.Command, Application: rd.App}, Fact: rd.Fact,
		Protocol: st.Protocol, Request: st.Answers, SameMessage: st.SameMessage, File: file, Line: ln}
	if rd.Value != nil {
		r.Value = *rd.Value
	}
	if rd.Min != nil {
		r.Min = *rd.Min
	}
	if rd.Max != nil {
		r.Max = *rd.Max
	}
	if len(rd.Profiles) == 0 {
		r.Profiles = s.Profiles()
	} else {
		for _, p := range rd.Profiles {
			if !s.hasProfile(p) {
				return Rule{}, bad("expected profiles among %s, saw %q", strings.Join(s.Profiles(), ", "), p)
			}
		}
		r.Profiles = rd.Profiles
	}
	when, err := s.conditions(rd.When)
	if err != nil {
		return Rule{}, bad("%v", err)
	}
	r.When = when
	if rd.Request != nil {
		r.Start.RequestFlag = strconv.FormatBool(*rd.Request)
	}
	for _, tmpl := range append([]string{r.Value, r.Pattern, r.Start.Method, r.Start.RequestURI, r.Start.Version, r.Start.Status, r.Start.Reason, r.Start.Command, r.Start.Application}, r.Values...) {
		for _, v := range TemplateVars(tmpl) {
			if !isVar(v) {
				return Rule{}, bad("expected a template variable among %s, saw {{%s}}", strings.Join(Vars, ", "), v)
			}
		}
	}
	if !reIndex.MatchString(r.Index) {
		return Rule{}, bad("expected index \"\", all, last, any, binding or a number, saw %q", r.Index)
	}
	if r.Index == "binding" && (st.Answers == "" || !strings.EqualFold(r.Header, "Contact")) {
		return Rule{}, bad("expected index binding only on the Contact of a response (the UE's binding: the Contact whose URI is the request's), saw it on %s of step %s", r.Header, st.ID)
	}
	if r.Mechanism != "" && st.Protocol == ProtoDiameter {
		return Rule{}, bad("expected mechanism only on a SIP header (Security-Client, -Server, -Verify), saw it on step %s (Diameter)", st.ID)
	}
	if err := s.checkField(r, st); err != nil {
		return Rule{}, bad("%v", err)
	}
	if r.Pattern != "" {
		probe, _ := Expand(r.Pattern, placeholder, regexp.QuoteMeta)
		if _, err := regexp.Compile(probe); err != nil {
			return Rule{}, bad("expected a valid regular expression, saw %q: %v", r.Pattern, err)
		}
	}
	if rd.Ref != nil {
		ref, err := s.buildRef(*rd.Ref, r, st)
		if err != nil {
			return Rule{}, bad("%v", err)
		}
		r.Ref = ref
	}
	need := func(ok bool, what string) error {
		if ok {
			return nil
		}
		return bad("expected %s for kind %s, saw none", what, r.Kind)
	}
	switch r.Kind {
	case KindStartLine:
		if st.Protocol == ProtoDiameter {
			err = need(r.Start.Command != "" || r.Start.RequestFlag != "" || r.Start.Application != "", "one of command, request, application")
		} else {
			err = need(r.Start != StartLine{}, "one of method, request_uri, version, status, reason, reason_pattern")
		}
	case KindPresent, KindAbsent, KindDate, KindViaEcho:
		if r.Kind == KindViaEcho {
			err = need(st.Answers != "", "a response step (answers:)")
		}
	case KindCount:
		err = need(r.Min >= 0 || r.Max >= 0, "min or max")
	case KindEquals:
		err = need(rd.Value != nil, "value")
	case KindContains, KindExcludes:
		if err = need(rd.Value != nil, "value"); err == nil && r.Index != "" && r.Index != "all" {
			err = bad("expected no index for kind %s (it reads every value of every line), saw %q", r.Kind, r.Index)
		}
	case KindMatches:
		err = need(r.Pattern != "", "pattern")
	case KindOneOf, KindMembers:
		err = need(len(r.Values) > 0 || r.Ref != nil, "values or ref")
	case KindWithin:
		err = need(len(r.Values) > 0, "values")
	case KindSameAs, KindDiffers:
		err = need(r.Ref != nil, "ref")
	case KindAfter:
		if err = need(r.Ref != nil, "ref"); err == nil && (r.Ref.Self || r.Ref.Header != r.Header || r.Ref.Part != "" || r.Ref.Index != "") {
			err = bad("expected a ref that names only a step for kind after (it compares capture order), saw header %q part %q index %q", rd.Ref.Header, r.Ref.Part, r.Ref.Index)
		}
	case KindBodyLen:
		if CanonicalHeader(r.Header) != "content-length" {
			err = bad("expected kind body-length on Content-Length, saw it on %q", r.Header)
		}
	case KindCompare:
		switch {
		case rd.Value != nil || r.Ref != nil:
			switch r.Op {
			case "eq", "ne", "lt", "le", "gt", "ge":
			default:
				err = bad("expected op eq, ne, lt, le, gt or ge, saw %q", r.Op)
			}
		case r.Op != "":
			err = bad("expected value or ref with op %s, saw none", r.Op)
		default:
			err = need(r.Min >= 0 || r.Max >= 0, "value or ref (with op), or min or max")
		}
	case KindNonce:
		err = need(r.MinBytes > 0, "min_bytes")
	case KindEnvelope:
		if !envParts[r.Part] {
			err = bad("expected an envelope part (transport, src.ip, src.port, dst.ip, dst.port), saw %q", r.Part)
		} else {
			err = need(rd.Value != nil, "value")
		}
	case KindESP:
		switch {
		case !slices.Contains(ESPParts, r.Part):
			err = bad("expected an esp part (%s), saw %q", strings.Join(ESPParts, ", "), r.Part)
		case r.Part == "spi":
			err = need(rd.Value != nil, "value")
		case r.Part == "packets.spi":
			err = need(len(r.Values) > 0, "values")
		}
	case KindFact:
		known := false
		for _, f := range Facts {
			known = known || f == r.Fact
		}
		if !known {
			err = bad("expected a fact among %s, saw %q", strings.Join(Facts, ", "), r.Fact)
		} else {
			err = need(rd.Value != nil || r.Pattern != "", "value or pattern")
		}
	default:
		names := make([]string, len(Kinds))
		for i, k := range Kinds {
			names[i] = string(k)
		}
		err = bad("expected a rule kind among %s, saw %q", strings.Join(names, ", "), rd.Kind)
	}
	if err != nil {
		return Rule{}, err
	}
	if r.Optional {
		switch r.Kind {
		case KindEquals, KindMatches, KindOneOf, KindCompare, KindSameAs, KindDate:
		default:
			return Rule{}, bad("expected optional only on kinds equals, matches, one-of, compare, same-as and date, saw it on %s", r.Kind)
		}
	}
	if r.Index == "any" {
		switch r.Kind {
		case KindEquals, KindMatches, KindOneOf, KindCompare, KindPresent:
		default:
			return Rule{}, bad("expected index any (some value satisfies the rule) only on kinds equals, matches, one-of, compare and present, saw it on %s", r.Kind)
		}
	}
	if r.Pattern != "" && len(TemplateVars(r.Pattern)) == 0 {
		r.Regexp = regexp.MustCompile(r.Pattern)
	}
	if r.Start.ReasonPattern != "" {
		if len(TemplateVars(r.Start.ReasonPattern)) > 0 {
			return Rule{}, bad("expected a reason_pattern without template variables, saw %q", r.Start.ReasonPattern)
		}
		if r.Reason, err = regexp.Compile(r.Start.ReasonPattern); err != nil {
			return Rule{}, bad("expected a valid regular expression in reason_pattern, saw %q: %v", r.Start.ReasonPattern, err)
		}
	}
	return r, nil
}

// buildRef resolves a rule's ref: "request" (the request the rule's
// response answers, or with of: the request another response step
// answers), "self" (another part of the same header value), or a step id.
func (s *Scenario) buildRef(rd refDoc, r Rule, st Step) (*Ref, error) {
	ref := Ref{Header: rd.Header, Part: rd.Part, Index: rd.Index}
	switch rd.Step {
	case "self":
		if rd.Of != "" || rd.Header != "" || rd.Index != "" {
			return nil, fmt.Errorf("expected only a part with ref step self (another part of the same value), saw header %q index %q of %q", rd.Header, rd.Index, rd.Of)
		}
		if st.Protocol == ProtoDiameter || !ValidPart(ref.Part) || ref.Part == "" || ref.Part == "value" {
			return nil, fmt.Errorf("expected ref step self with a part of a SIP header value (param:NAME, uri.port, ...), saw part %q on step %s", ref.Part, st.ID)
		}
		ref.Self, ref.Header = true, r.Header
		return &ref, nil
	case "request":
		of := st.ID
		if rd.Of != "" {
			of = rd.Of
		}
		os, ok := s.Step(of)
		if !ok || os.Answers == "" {
			if rd.Of == "" {
				return nil, fmt.Errorf("expected ref step request only on a response, saw it on step %s (a request)", st.ID)
			}
			return nil, fmt.Errorf("expected ref of to name a response step, saw %q", rd.Of)
		}
		ref.Step, ref.Of = os.Answers, of
	default:
		if rd.Of != "" {
			return nil, fmt.Errorf("expected of only with ref step request, saw it with step %q", rd.Step)
		}
		ref.Step = rd.Step
	}
	rs, ok := s.Step(ref.Step)
	if !ok || !rs.Observable {
		return nil, fmt.Errorf("expected ref step to be a step with a message (or \"request\" or \"self\"), saw %q", rd.Step)
	}
	ref.Request = rs.Answers
	if ref.Header == "" {
		ref.Header = r.Header
	}
	if rs.Protocol == ProtoDiameter {
		if r.Kind == KindAfter {
			return &ref, nil
		}
		if _, err := DiameterPath(ref.Header); err != nil {
			return nil, fmt.Errorf("ref: %v", err)
		}
		if !diameterParts[ref.Part] {
			return nil, fmt.Errorf("expected a Diameter ref part (value, text, hex), saw %q", ref.Part)
		}
	} else if !ValidPart(ref.Part) {
		return nil, fmt.Errorf("expected a ref part (value, uri, param:NAME, ...), saw %q", ref.Part)
	}
	if !reRefIndex.MatchString(ref.Index) {
		return nil, fmt.Errorf("expected ref index \"\", all, last, binding or a number, saw %q", ref.Index)
	}
	if ref.Index == "binding" && (rs.Answers == "" || CanonicalHeader(ref.Header) != "contact") {
		return nil, fmt.Errorf("expected ref index binding only on the Contact of a response step, saw %s of step %s", ref.Header, rs.ID)
	}
	return &ref, nil
}

// CanonicalHeader is a SIP header name in lower case with a compact form
// (RFC 3261 7.3.3) written out, for comparing rule header names.
func CanonicalHeader(name string) string {
	n := strings.ToLower(strings.TrimSpace(name))
	if full, ok := compactForms[n]; ok {
		return full
	}
	return n
}

var compactForms = map[string]string{"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact",
	"l": "content-length", "k": "supported", "s": "subject", "c": "content-type", "e": "content-encoding"}

// ExpandList fills a template as Expand does; a template that is exactly
// one of ListVars gives that set's members.
func ExpandList(t string, vars map[string]string) ([]string, error) {
	v, err := Expand(t, vars, nil)
	if err != nil {
		return nil, err
	}
	if IsListTemplate(t) {
		return strings.Fields(v), nil
	}
	return []string{v}, nil
}

// IsListTemplate reports whether t is exactly one of ListVars
// ("{{scscf_names}}"), which ExpandList gives as that set's members.
func IsListTemplate(t string) bool {
	name, ok := wholeVar(t)
	return ok && slices.Contains(ListVars, name)
}

// wholeVar returns the variable name when t is exactly one {{variable}}:
// what reVar matches when it matches all of t, "{{", a name with no brace,
// "}}", white space (\s: tab, newline, form feed, return, space) around
// the name trimmed.
func wholeVar(t string) (string, bool) {
	if len(t) < 4 || !strings.HasPrefix(t, "{{") || !strings.HasSuffix(t, "}}") || strings.ContainsAny(t[2:len(t)-2], "{}") {
		return "", false
	}
	return strings.Trim(t[2:len(t)-2], "\t\n\f\r "), true
}

// conditions turns a when: mapping into conditions, sorted by variable,
// each with the reason and default the flow gives it.
func (s *Scenario) conditions(when map[string]string) ([]Condition, error) {
	keys := make([]string, 0, len(when))
	for k := range when {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []Condition
	for _, k := range keys {
		if !isVar(k) {
			return nil, fmt.Errorf("expected a lab variable in when, saw %q", k)
		}
		c := Condition{Var: k, Value: when[k]}
		for _, d := range s.Conditions {
			if d.Var == k && d.Value == c.Value {
				c = d
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// checkField checks that the rule's header, part and start-line fields fit
// the protocol of its step.
func (s *Scenario) checkField(r Rule, st Step) error {
	sipStart := r.Start.Method != "" || r.Start.RequestURI != "" || r.Start.Version != "" || r.Start.Status != "" || r.Start.Reason != "" || r.Start.ReasonPattern != ""
	diaStart := r.Start.Command != "" || r.Start.RequestFlag != "" || r.Start.Application != ""
	if st.Protocol != ProtoDiameter {
		if diaStart {
			return fmt.Errorf("expected command, request and application only on a Diameter step, saw them on step %s (SIP)", st.ID)
		}
		if r.Kind != KindEnvelope && r.Kind != KindESP && !ValidPart(r.Part) {
			return fmt.Errorf("expected a part (value, uri, uri.host, param:NAME, digest:NAME, via.port, expiry, ...), saw %q", r.Part)
		}
		return nil
	}
	if sipStart {
		return fmt.Errorf("expected command, request or application on a Diameter step, saw a SIP start-line field on step %s", st.ID)
	}
	switch r.Kind {
	case KindEnvelope, KindFact:
		return nil
	case KindStartLine:
		if r.Header != DiameterHeader {
			return fmt.Errorf("expected header %s for a start-line rule on a Diameter step, saw %q", DiameterHeader, r.Header)
		}
		return nil
	case KindViaEcho, KindMembers, KindDate, KindNonce:
		return fmt.Errorf("expected a kind that applies to an AVP on a Diameter step, saw %s", r.Kind)
	}
	if _, err := DiameterPath(r.Header); err != nil {
		return err
	}
	if !diameterParts[r.Part] {
		return fmt.Errorf("expected a Diameter part (value: by the AVP's type, text: the data as text, hex: the data in hex), saw %q", r.Part)
	}
	return nil
}

// diameterParts are the parts of an AVP a rule may read: "" or value (the
// data rendered by its type), text (the data as UTF-8 text, for an
// OctetString that holds text) and hex (the data in lower-case hex).
var diameterParts = map[string]bool{"": true, "value": true, "text": true, "hex": true}

// DiameterPath resolves a rule's header on a Diameter message to the
// dictionary definitions of diameter.Default: an AVP name
// ("Visited-Network-Identifier"), or names joined by "/" for an AVP inside
// grouped AVPs ("SIP-Auth-Data-Item/SIP-Authentication-Scheme"), compared
// without regard to case. Every name but the last is a Grouped AVP.
func DiameterPath(header string) ([]diameter.AVPDef, error) {
	if strings.TrimSpace(header) == "" {
		return nil, fmt.Errorf("expected an AVP name, saw none")
	}
	names := strings.Split(header, "/")
	path := make([]diameter.AVPDef, 0, len(names))
	for i, n := range names {
		def, ok := diameter.Default.LookupName(strings.TrimSpace(n))
		if !ok {
			return nil, fmt.Errorf("expected an AVP name of the Diameter dictionary (e.g. User-Name, SIP-Auth-Data-Item/SIP-Authentication-Scheme), saw %q", n)
		}
		if i < len(names)-1 && def.Type != diameter.TypeGrouped {
			return nil, fmt.Errorf("expected %s to be a grouped AVP to look inside, saw a %s", def.Name, def.Type)
		}
		path = append(path, def)
	}
	return path, nil
}

var placeholder = func() map[string]string {
	m := map[string]string{}
	for _, v := range Vars {
		m[v] = "x"
	}
	return m
}()

func (s *Scenario) hasProfile(p string) bool {
	for _, q := range s.profiles {
		if q.Name == p {
			return true
		}
	}
	return false
}

// Atoi parses a decimal number, as rules read numeric fields.
func Atoi(s string) (int64, error) { return strconv.ParseInt(strings.TrimSpace(s), 10, 64) }
