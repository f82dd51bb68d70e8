package scenario_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"imsconform/harness/scenario"
)

const cxFlow = `scenario: t
title: test
profiles:
  - {name: a322, default: true, description: d}
conditions:
  - {var: cx_observed, value: "true", unset: "false", otherwise: "Cx not observed here"}
steps:
  - {id: "2", title: REGISTER, from: UE, to: P, table: T-2, observable: true, why: sent}
  - {id: "3.MAR", title: MAR, from: S, to: HSS, table: Cx-3-MAR, protocol: diameter, observable: true, observable_when: {cx_observed: "true"}, why: seen by the HSS}
`

const cxTable = `table: Cx-3-MAR
title: Cx MAR
step: "3.MAR"
format: |
  < MAR > ::= < Diameter Header: 303, REQ, PXY, 16777216 >
  { User-Name }
rules:
  - id: Cx-3-MAR/Diameter-Header/command
    header: Diameter-Header
    level: must
    citation: TS 29.229 6.1.7
    statement: command code is 303
    when: {cx_observed: "true"}
    kind: start-line
    command: "303"
    request: true
  - id: Cx-3-MAR/SIP-Auth-Data-Item/scheme
    header: SIP-Auth-Data-Item/SIP-Authentication-Scheme
    level: must
    citation: TS 29.228 6.3
    statement: scheme is Digest-AKAv1-MD5
    when: {cx_observed: "true"}
    kind: equals
    value: Digest-AKAv1-MD5
`

func loadCx(flow, table string) (*scenario.Scenario, error) {
	fsys := fstest.MapFS{
		"s/flow.yaml":       {Data: []byte(flow)},
		"s/tables/t-2.yaml": {Data: []byte("table: T-2\ntitle: REGISTER\nstep: \"2\"\nexample: REGISTER\nrules: []\n")},
		"s/tables/cx.yaml":  {Data: []byte(table)},
	}
	return scenario.Load(fsys, "s")
}

func TestLoadDiameter(t *testing.T) {
	s, err := loadCx(cxFlow, cxTable)
	if err != nil {
		t.Fatalf("good scenario refused: %v", err)
	}
	st, _ := s.Step("3.MAR")
	if st.Protocol != scenario.ProtoDiameter || len(st.ObservableWhen) != 1 || st.ObservableWhen[0].Reason != "Cx not observed here" {
		t.Errorf("step 3.MAR: %+v", st)
	}
	rs := s.AllRules()
	if len(rs) != 2 || rs[0].Start.Command != "303" || rs[0].Start.RequestFlag != "true" || rs[0].Protocol != scenario.ProtoDiameter {
		t.Fatalf("rules: %+v", rs)
	}
	c := rs[1].When[0]
	if c.Reason != "Cx not observed here" || !c.HasDefault || c.Default != "false" {
		t.Errorf("condition: %+v", c)
	}
	if s.Tables[0].Format == "" || s.Tables[0].Example != "" {
		t.Errorf("table: %+v", s.Tables[0])
	}
	cases := map[string]struct{ flow, table, want string }{
		"unknown AVP": {cxFlow, strings.Replace(cxTable, "SIP-Auth-Data-Item/SIP-Authentication-Scheme", "Colour", 1),
			`cx.yaml:17: rule "Cx-3-MAR/SIP-Auth-Data-Item/scheme": expected an AVP name of the Diameter dictionary`},
		"not a group": {cxFlow, strings.Replace(cxTable, "SIP-Auth-Data-Item/SIP-Authentication-Scheme", "User-Name/SIP-Authentication-Scheme", 1),
			"expected User-Name to be a grouped AVP to look inside, saw a UTF8String"},
		"SIP part": {cxFlow, strings.Replace(cxTable, "    value: Digest-AKAv1-MD5", "    part: uri.host\n    value: x", 1),
			`expected a Diameter part (value: by the AVP's type, text: the data as text, hex: the data in hex), saw "uri.host"`},
		"SIP start line": {cxFlow, strings.Replace(cxTable, `command: "303"`, `status: "200"`, 1),
			"expected command, request or application on a Diameter step, saw a SIP start-line field"},
		"start line header": {cxFlow, strings.Replace(cxTable, "header: Diameter-Header", "header: Request-Line", 1),
			`expected header Diameter-Header for a start-line rule on a Diameter step, saw "Request-Line"`},
		"SIP kind": {cxFlow, strings.Replace(cxTable, "kind: equals\n    value: Digest-AKAv1-MD5", "kind: via-echo", 1),
			"expected a kind that applies to an AVP on a Diameter step, saw via-echo"},
		"format on SIP": {strings.Replace(cxFlow, "protocol: diameter, ", "", 1), cxTable,
			"cx.yaml:1: expected a command format only on a Diameter step, saw one on step 3.MAR (sip)"},
		"protocol": {strings.Replace(cxFlow, "protocol: diameter", "protocol: smtp", 1), cxTable,
			`flow.yaml:9: expected step 3.MAR protocol sip or diameter, saw "smtp"`},
		"condition without reason": {strings.Replace(cxFlow, `, otherwise: "Cx not observed here"`, "", 1), cxTable,
			`flow.yaml:6: expected a condition with a lab variable (var) and a reason (otherwise)`},
		"condition var": {strings.Replace(cxFlow, "var: cx_observed", "var: colour", 1), cxTable,
			`flow.yaml:6: expected a condition with a lab variable (var) and a reason (otherwise), saw var "colour"`},
		"observable_when var": {strings.Replace(cxFlow, `observable_when: {cx_observed`, `observable_when: {colour`, 1), cxTable,
			`flow.yaml:9: step 3.MAR: expected a lab variable in when, saw "colour"`},
		"no example nor format": {cxFlow, strings.Replace(cxTable, "format: |\n  < MAR > ::= < Diameter Header: 303, REQ, PXY, 16777216 >\n  { User-Name }\n", "", 1),
			"cx.yaml:1: expected table, title and example (or format)"},
		"Diameter fields on SIP": {cxFlow, strings.Replace(cxTable, `step: "3.MAR"`, `step: "2"`, 1), "expected step to name a step whose table is Cx-3-MAR"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := loadCx(c.flow, c.table)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q, want one line containing %q", err, c.want)
			}
		})
	}
}

func TestLoadSIPFieldsNew(t *testing.T) {
	rule := "kind: start-line\n    status: \"401\""
	loadCases(t, map[string]struct{ doc, want string }{
		"excludes":               {strings.Replace(table5, rule, "kind: excludes\n    value: sec-agree", 1), ""},
		"excludes without value": {strings.Replace(table5, rule, "kind: excludes", 1), "expected value for kind excludes, saw none"},
		"reason pattern":         {strings.Replace(table5, rule, "kind: start-line\n    reason_pattern: '\\S'", 1), ""},
		"bad reason pattern":     {strings.Replace(table5, rule, "kind: start-line\n    reason_pattern: '('", 1), "expected a valid regular expression in reason_pattern"},
		"expiry part":            {strings.Replace(table5, rule, "kind: compare\n    part: expiry\n    op: le\n    value: \"600000\"", 1), ""},
		"optional":               {strings.Replace(table5, rule, "kind: equals\n    value: x\n    optional: true", 1), ""},
		"optional on present":    {strings.Replace(table5, rule, "kind: present\n    optional: true", 1), "expected optional only on kinds equals"},
		"Diameter field on SIP":  {strings.Replace(table5, rule, "kind: start-line\n    command: \"300\"", 1), "expected command, request and application only on a Diameter step"},
	})
}
