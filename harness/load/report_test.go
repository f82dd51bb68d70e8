package load

import (
	"strings"
	"testing"
	"time"
)

func shardReport(shard string, fp string, ues int, att int64) *Report {
	r := &Report{SchemaVersion: SchemaVersion, Fingerprint: fp, Config: Config{UEs: ues, Rate: 100},
		Initial: newPhase(), Reregister: newPhase(), Deregister: newPhase(), Slip: NewLatency(),
		Shards: []ShardInfo{{Shard: shard}}, Started: time.Unix(1000, 0), Finished: time.Unix(1010, 0)}
	r.Initial.Attempted, r.Initial.Succeeded = att, att
	for range att {
		r.Initial.RRD.Record(2 * time.Millisecond)
	}
	r.Rules = []RuleTally{{RuleID: "T-1/A", Pass: att}}
	r.Seconds = []Second{{T: 1005, Attempted: att, Succeeded: att, RRD: newLatency(intervalDigits)}}
	r.Generator = Generator{CPUUser: 1, Engine: 0.5, RSS: att << 20}
	return r
}

func TestMergeOfShards(t *testing.T) {
	a, b := shardReport("0/2", "fp", 10, 4), shardReport("1/2", "fp", 10, 6)
	m, err := Merge([]*Report{b, a})
	if err != nil {
		t.Fatal(err)
	}
	if m.Initial.Attempted != 10 || m.Initial.RRD.Count() != 10 || m.Rules[0].Pass != 10 || len(m.Seconds) != 1 || m.Seconds[0].Attempted != 10 {
		t.Errorf("merged: %+v rules %+v seconds %+v", m.Initial, m.Rules, m.Seconds)
	}
	if m.Generator.CPUUser != 2 || m.Generator.RSS != 6<<20 || len(m.Shards) != 2 || len(m.Warnings) != 0 {
		t.Errorf("merged generator %+v shards %+v warnings %v", m.Generator, m.Shards, m.Warnings)
	}
	if m.Generator.CPUPerRegistration != 2e5 {
		t.Errorf("CPU per registration %g, want 2 s / 10", m.Generator.CPUPerRegistration)
	}
	for _, c := range []struct {
		reps []*Report
		want string
	}{
		{nil, "at least one shard"},
		{[]*Report{a, shardReport("1/2", "other", 10, 6)}, "judged by other rules"},
		{[]*Report{a, shardReport("1/2", "fp", 20, 6)}, "not one run"},
		{[]*Report{a, shardReport("0/2", "fp", 10, 6)}, "comes twice"},
		{[]*Report{a, shardReport("1/3", "fp", 10, 6)}, "not one run"},
	} {
		if _, err := Merge(c.reps); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Merge: %v, want an error saying %q", err, c.want)
		}
	}
	if m, _ := Merge([]*Report{a}); len(m.Warnings) != 1 || !strings.Contains(m.Warnings[0], "1/2 of 2 are missing") {
		t.Errorf("one of two shards: warnings %v", m.Warnings)
	}
}
