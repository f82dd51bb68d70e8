package load

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"
)

// Quantiles of an HdrHistogram of 3 significant digits are within 0.1 %
// of the exact ones.
func TestLatencyQuantilesAreWithinPrecision(t *testing.T) {
	l := NewLatency()
	r := rand.New(rand.NewPCG(1, 2))
	var vs []float64
	for range 50000 {
		d := time.Duration(r.ExpFloat64()*3e6) + 200*time.Microsecond // a long tail over 200 µs
		l.Record(d)
		vs = append(vs, float64(d.Microseconds())/1000)
	}
	sort.Float64s(vs)
	q := l.Quantiles()
	for _, c := range []struct {
		name string
		got  float64
		p    float64
	}{{"p50", q.P50, 0.50}, {"p90", q.P90, 0.90}, {"p99", q.P99, 0.99}, {"p99.9", q.P999, 0.999}} {
		want := vs[int(math.Ceil(c.p*float64(len(vs))))-1]
		if math.Abs(c.got-want)/want > 0.001+1e-9 {
			t.Errorf("%s = %.4f ms, want %.4f ms within 0.1 %%", c.name, c.got, want)
		}
	}
	if q.Count != 50000 || math.Abs(q.Max-vs[len(vs)-1])/vs[len(vs)-1] > 0.001 {
		t.Errorf("count %d, max %.3f (want %.3f)", q.Count, q.Max, vs[len(vs)-1])
	}
}

// Merging shards' histograms is exact: the merge of two is the histogram
// of every value recorded in one, bucket for bucket; and it survives
// load.json.
func TestLatencyMergeIsExactAndSurvivesJSON(t *testing.T) {
	a, b, all := NewLatency(), NewLatency(), NewLatency()
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 20000 {
		d := time.Duration(r.Int64N(int64(2 * time.Second)))
		all.Record(d)
		if i%3 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	var ra, rb Latency
	if err := json.Unmarshal(ja, &ra); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(jb, &rb); err != nil {
		t.Fatal(err)
	}
	m := NewLatency()
	if err := m.Merge(&ra); err != nil {
		t.Fatal(err)
	}
	if err := m.Merge(&rb); err != nil {
		t.Fatal(err)
	}
	if !m.h.Equals(all.h) {
		t.Fatalf("merged %+v, recorded in one %+v: expected the same histogram", m.Quantiles(), all.Quantiles())
	}
	if m.Quantiles() != all.Quantiles() {
		t.Errorf("quantiles differ: %+v vs %+v", m.Quantiles(), all.Quantiles())
	}
	// Another precision does not merge.
	if err := m.Merge(newLatency(intervalDigits)); err == nil {
		t.Error("merging a 2-digit histogram into a 3-digit one: expected an error")
	}
	if err := m.Merge(m); err == nil {
		t.Error("merging a histogram into itself: expected an error")
	}
	var bad Latency
	if err := json.Unmarshal([]byte(`{"hdr":"bm90IGEgaGlzdG9ncmFt"}`), &bad); err == nil {
		t.Error("a histogram that does not decode: expected an error")
	}
}

func TestLatencyClampsToItsRange(t *testing.T) {
	l := NewLatency()
	l.Record(-time.Second)
	l.Record(0)
	l.Record(3 * time.Hour)
	q := l.Quantiles()
	if q.Count != 3 || q.P50 != 0.001 || q.Max < 3.59e6 || q.Max > 3.61e6 {
		t.Errorf("quantiles %+v: want 3 values, the small ones at 1 µs, the large at 1 h", q)
	}
}
