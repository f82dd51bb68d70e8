package deviation

import (
	"fmt"
	"slices"
	"strings"
)

// Parse reads a deviation written as STEP/ACTION[/HEADER[/PARAM]][=VALUE],
// e.g. "5/set-param/WWW-Authenticate/algorithm=MD5", "5/bad-mac",
// "10/drop-header/P-Associated-URI", "11/no-answer". A Cx step (3.UAR,
// 3.MAR, 8.UAR, 9.SAR) takes STEP/ACTION[/AVP[/AVP...]][=VALUE] with
// drop-header, set-header, add-header or no-answer, the AVP path naming an
// AVP of the Diameter dictionary, e.g. "3.UAR/drop-header/Visited-Network-Identifier",
// "3.MAR/set-header/SIP-Auth-Data-Item/SIP-Authentication-Scheme=Digest-MD5";
// the ESP deviations take their step only: "10/bad-icv", "10/wrong-spi",
// "10/replay", "10/in-clear", "7/in-clear", "5/alg-not-offered";
// "3.MAR/late" and "9.SAR/late" send the request after the answer it should
// precede.
func Parse(s string) (Deviation, error) {
	spec, value, hasValue := strings.Cut(s, "=")
	parts := strings.Split(spec, "/")
	if len(parts) >= 2 && IsCxStep(parts[0]) {
		return parseCx(s, parts, value, hasValue)
	}
	if len(parts) < 2 || len(parts) > 4 || parts[0] == "" || parts[1] == "" {
		return Deviation{}, fmt.Errorf("deviation: expected STEP/ACTION[/HEADER[/PARAM]][=VALUE], saw %q", s)
	}
	d := Deviation{Step: parts[0], Action: Action(parts[1])}
	if len(parts) > 2 {
		d.Header = parts[2]
	}
	if len(parts) > 3 {
		d.Param = parts[3]
	}
	if hasValue {
		d.Value = value
	}
	if !known[d.Action] {
		return Deviation{}, fmt.Errorf("deviation %q: expected an action among %s, saw %q", s, strings.Join(actionNames(), ", "), d.Action)
	}
	switch d.Step {
	case "2", "5", "7", "10", "11", "13", "14":
	default:
		return Deviation{}, fmt.Errorf("deviation %q: expected a step among 2, 5, 7, 10, 11, 13, 14, %s, saw %q", s, strings.Join(CxSteps, ", "), d.Step)
	}
	if steps, ok := ESPSteps[d.Action]; ok {
		if !slices.Contains(steps, d.Step) && !(d.Step == "14" && slices.Contains(steps, "10")) {
			return Deviation{}, fmt.Errorf("deviation %q: %s applies to step %s, saw %q", s, d.Action, strings.Join(steps, " or "), d.Step)
		}
		if d.Header != "" || d.Value != "" {
			return Deviation{}, fmt.Errorf("deviation %q: expected no header or value with %s", s, d.Action)
		}
	}
	if IsHeaderEdit(d.Action) && d.Action != StartLine && d.Header == "" {
		return Deviation{}, fmt.Errorf("deviation %q: %s needs a header: STEP/%s/HEADER", s, d.Action, d.Action)
	}
	if (d.Action == DropParam || d.Action == SetParam) && d.Param == "" {
		return Deviation{}, fmt.Errorf("deviation %q: %s needs a parameter: STEP/%s/HEADER/PARAM", s, d.Action, d.Action)
	}
	return d, nil
}

var allActions = []Action{DropHeader, SetHeader, AddHeader, DropParam, SetParam, StartLine,
	BadMAC, StaleSQN, NoAnswer, Reject403, Malformed, WrongRES, AsTable, Late,
	BadICV, WrongSPI, Replay, InClear, AlgNotOffered}

var known = func() map[Action]bool {
	m := map[Action]bool{}
	for _, a := range allActions {
		m[a] = true
	}
	return m
}()

func actionNames() []string {
	var s []string
	for _, a := range allActions {
		s = append(s, string(a))
	}
	return s
}

// String writes d in the form Parse reads.
func (d Deviation) String() string {
	s := d.Step + "/" + string(d.Action)
	if d.Header != "" || d.Param != "" {
		s += "/" + d.Header
	}
	if d.Param != "" {
		s += "/" + d.Param
	}
	if d.Value != "" {
		s += "=" + d.Value
	}
	return s
}

// parseCx reads a deviation of a Cx step; the AVP path may hold "/".
func parseCx(s string, parts []string, value string, hasValue bool) (Deviation, error) {
	d := Deviation{Step: parts[0], Action: Action(parts[1])}
	if len(parts) > 2 {
		d.Header = strings.Join(parts[2:], "/")
	}
	if hasValue {
		d.Value = value
	}
	switch {
	case IsAVPEdit(d.Action):
		if _, err := AVPPath(nil, d.Header); err != nil {
			return Deviation{}, fmt.Errorf("deviation %q: %s of a Cx step needs an AVP: STEP/%s/AVP[/AVP...]: %v", s, d.Action, d.Action, err)
		}
	case d.Action == NoAnswer || (d.Action == Late && (d.Step == StepMAR3 || d.Step == StepSAR9)):
		if d.Header != "" {
			return Deviation{}, fmt.Errorf("deviation %q: expected no AVP with %s, saw %q", s, d.Action, d.Header)
		}
	default:
		return Deviation{}, fmt.Errorf("deviation %q: expected drop-header, set-header, add-header or no-answer for the Cx step %s (or late for %s and %s), saw %q", s, d.Step, StepMAR3, StepSAR9, d.Action)
	}
	return d, nil
}

// Flag collects repeated -deviate STEP/ACTION[/HEADER[/PARAM]][=VALUE]
// flags (Parse); it is a flag.Value.
type Flag []Deviation

func (f *Flag) String() string { return fmt.Sprint([]Deviation(*f)) }

// Set parses one deviation and adds it.
func (f *Flag) Set(v string) error {
	d, err := Parse(v)
	if err != nil {
		return err
	}
	*f = append(*f, d)
	return nil
}
