package load

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Latency histograms are HdrHistograms (github.com/HdrHistogram/hdrhistogram-go)
// of microseconds, from 1 µs to one hour, with 3 significant digits: a
// quantile is within 0.1 % of the value recorded. Two histograms of the
// same layout merge exactly (their counts add bucket by bucket), which is
// how the shards of a run combine. In load.json a histogram is kept in the
// HdrHistogram V2 compressed form (base64), which HdrHistogram's own tools
// in any language read.
const (
	histLowest  = 1
	histHighest = int64(time.Hour / time.Microsecond)
	histDigits  = 3
	// intervalDigits is the precision of the per-second histograms of a
	// run's series (load.html's latency plot): 2 digits keep each small.
	intervalDigits = 2
)

// Latency is a latency distribution. It is safe for concurrent use.
type Latency struct {
	mu     sync.Mutex
	h      *hdrhistogram.Histogram
	digits int
}

// NewLatency returns an empty distribution of the run's precision.
func NewLatency() *Latency { return newLatency(histDigits) }

func newLatency(digits int) *Latency {
	return &Latency{h: hdrhistogram.New(histLowest, histHighest, digits), digits: digits}
}

// Record adds one delay; below 1 µs counts as 1 µs, above an hour as an
// hour.
func (l *Latency) Record(d time.Duration) {
	us := min(max(int64(d/time.Microsecond), histLowest), histHighest)
	l.mu.Lock()
	_ = l.h.RecordValue(us)
	l.mu.Unlock()
}

// Count is the number of delays recorded.
func (l *Latency) Count() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.h.TotalCount()
}

// Merge adds o's delays to l. Both must be of the same precision: then it
// is exact.
func (l *Latency) Merge(o *Latency) error {
	if o == nil {
		return nil
	}
	if o == l {
		return fmt.Errorf("load: merging a histogram into itself")
	}
	o.mu.Lock()
	snap := o.h.Export()
	od := o.digits
	o.mu.Unlock()
	if od != l.digits {
		return fmt.Errorf("load: expected histograms of %d significant digits, saw one of %d", l.digits, od)
	}
	from := hdrhistogram.Import(snap)
	l.mu.Lock()
	defer l.mu.Unlock()
	if dropped := l.h.Merge(from); dropped > 0 {
		return fmt.Errorf("load: %d delays outside the histogram's range were dropped in a merge", dropped)
	}
	return nil
}

// Quantiles is a distribution as people read it, in milliseconds.
type Quantiles struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p99_9_ms"`
	Max   float64 `json:"max_ms"`
}

// Quantiles returns the distribution's count, mean, p50, p90, p99, p99.9
// and max (the highest value of the bucket the largest delay fell in).
func (l *Latency) Quantiles() Quantiles {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.h
	if h.TotalCount() == 0 {
		return Quantiles{}
	}
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return Quantiles{Count: h.TotalCount(), Mean: h.Mean() / 1000, P50: ms(h.ValueAtQuantile(50)), P90: ms(h.ValueAtQuantile(90)),
		P99: ms(h.ValueAtQuantile(99)), P999: ms(h.ValueAtQuantile(99.9)), Max: ms(h.Max())}
}

// latencyJSON is a histogram as load.json keeps it: the quantiles to read
// and the HdrHistogram (V2 compressed, base64) to merge.
type latencyJSON struct {
	Quantiles
	Digits int    `json:"significant_digits"`
	HDR    string `json:"hdr"`
}

// MarshalJSON writes the quantiles and the encoded histogram.
func (l *Latency) MarshalJSON() ([]byte, error) {
	q := l.Quantiles()
	l.mu.Lock()
	enc, err := l.h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	d := l.digits
	l.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("load: encoding a histogram: %w", err)
	}
	return json.Marshal(latencyJSON{Quantiles: q, Digits: d, HDR: string(enc)})
}

// UnmarshalJSON reads the encoded histogram back (the quantiles are
// derived from it again).
func (l *Latency) UnmarshalJSON(b []byte) error {
	var j latencyJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	if j.HDR == "" {
		l.mu.Lock()
		l.digits = max(j.Digits, 1)
		l.h = hdrhistogram.New(histLowest, histHighest, l.digits)
		l.mu.Unlock()
		return nil
	}
	h, err := hdrhistogram.Decode([]byte(j.HDR))
	if err != nil {
		return fmt.Errorf("load: expected an HdrHistogram (V2 compressed, base64), saw one that does not decode: %w", err)
	}
	if h.LowestTrackableValue() != histLowest || h.HighestTrackableValue() != histHighest {
		return fmt.Errorf("load: expected a histogram of 1 µs to 1 h, saw %d to %d", h.LowestTrackableValue(), h.HighestTrackableValue())
	}
	l.mu.Lock()
	l.h, l.digits = h, int(h.SignificantFigures())
	l.mu.Unlock()
	return nil
}

// Sum returns the distribution of every delay of ls together (nil ones
// left out); they must be of one precision, which the sum has.
func Sum(ls ...*Latency) (*Latency, error) {
	var out *Latency
	for _, l := range ls {
		if l == nil {
			continue
		}
		if out == nil {
			l.mu.Lock()
			d := l.digits
			l.mu.Unlock()
			out = newLatency(d)
		}
		if err := out.Merge(l); err != nil {
			return nil, err
		}
	}
	if out == nil {
		out = NewLatency()
	}
	return out, nil
}
