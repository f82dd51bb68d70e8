package load

import (
	"runtime"
	"runtime/metrics"
	"time"

	"imsconform/harness/check"
)

// calibration bounds the judging again after the run that measures the
// engine's CPU per registration with its garbage collection.
const (
	calibrationInputs = 8
	calibrationBudget = 300 * time.Millisecond
	calibrationMax    = 400 // judgements at most
)

func (r *runner) keepForCalibration(in check.Input) {
	r.calMu.Lock()
	if len(r.calIns) < calibrationInputs {
		r.calIns = append(r.calIns, in)
	}
	r.calMu.Unlock()
}

// calibrate judges the kept registrations again, in this process with
// nothing else running, and returns the process CPU one judgement took,
// the collection of its garbage included (a collection ends the
// measurement). 0 when nothing was judged.
func (r *runner) calibrate() time.Duration {
	r.calMu.Lock()
	ins := r.calIns
	r.calMu.Unlock()
	if len(ins) == 0 || r.judge == nil {
		return 0
	}
	runtime.GC()
	u0, s0 := processCPU()
	began := time.Now()
	var res []check.Result
	n := 0
	for n < calibrationMax && (n < len(ins) || time.Since(began) < calibrationBudget) {
		res = r.judge.Judge(res[:0], ins[n%len(ins)])
		n++
	}
	runtime.GC()
	u1, s1 := processCPU()
	return (u1 - u0 + s1 - s0) / time.Duration(n)
}

// gcCPU is the garbage collector's CPU so far (runtime/metrics).
func gcCPU() time.Duration {
	s := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindFloat64 {
		return 0
	}
	return time.Duration(s[0].Value.Float64() * float64(time.Second))
}
